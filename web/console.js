// The notifyd web console: counts and a deliveries-per-second chart, channels,
// clients and check-ins (polled from the HTTP API), a watch panel subscribed over
// WebSocket that resumes where it left off, and a publish form.
//
// Served by notifyd itself from files built into the binary; everything it loads
// comes from the same origin, and every URL is relative to the page, so the
// console also works behind a reverse proxy under a path prefix. Text from the
// server is only ever put into the page as text (textContent), never as markup.

const TOKEN_KEY = "notifyd.console.token";
const WATCH_KEY = "notifyd.console.watch";
const STATS_PERIOD_MS = 1000;
const LISTS_PERIOD_MS = 2000;
const CHART_SECONDS = 60;
const FEED_MAX = 200;
const RECONNECT_MAX_MS = 10000;

const $ = (id) => document.getElementById(id);

/** Sets an element's text only when it changes, so that a live region
 *  (role="status") announces news, not every poll. */
function setText(id, text) {
  const e = $(id);
  if (e.textContent !== text) e.textContent = text;
}

// --- the HTTP API, with the token when the user gave one ---------------------

/** A refusal by the access rules (401 or 403), with the server's reason. */
class AccessError extends Error {}

/** Keeps the token for this tab only, and asks for one when the API wants it. */
class TokenKeeper {
  constructor() {
    this.token = sessionStorage.getItem(TOKEN_KEY) || "";
    this.declined = false;  // the user cancelled the prompt: wait for the Token button
    this.dialog = $("token-dialog");
    this.waiters = [];
    this.dialog.addEventListener("close", () => this.onClose());
    $("token-button").addEventListener("click", () => this.ask(""));
  }

  /** Shows the prompt with `reason` (once, however many ask); resolves with the
   *  user's choice: "save", "forget", or anything else when cancelled. */
  ask(reason) {
    if (!this.dialog.open) {
      $("token-reason").textContent = reason;
      $("token-input").value = this.token;
      this.dialog.showModal();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  onClose() {
    const choice = this.dialog.returnValue;
    if (choice === "save") this.token = $("token-input").value.trim();
    if (choice === "forget") this.token = "";
    this.declined = choice !== "save";
    if (this.token) {
      sessionStorage.setItem(TOKEN_KEY, this.token);
    } else {
      sessionStorage.removeItem(TOKEN_KEY);
    }
    $("token-input").value = "";
    this.dialog.returnValue = "";
    if (choice === "save" || choice === "forget") window.dispatchEvent(new Event("tokenchange"));
    for (const resolve of this.waiters.splice(0)) resolve(choice);
  }
}

const tokens = new TokenKeeper();

/** fetch() of an API path relative to the page; the parsed JSON reply or an error. */
async function api(path, init = {}) {
  const headers = new Headers(init.headers);
  if (tokens.token) headers.set("Authorization", `Bearer ${tokens.token}`);
  const response = await fetch(new URL(path, document.baseURI), {
    ...init, headers, cache: "no-store",
  });
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = { error: text };
  }
  if (response.ok) return body;
  const reason = [body?.error, body?.details].filter(Boolean).join(": ") ||
                 `HTTP ${response.status}`;
  if (response.status === 401 || response.status === 403) throw new AccessError(reason);
  throw new Error(reason);
}

// --- small helpers --------------------------------------------------------------

/** An element with text content and optional attributes. */
function el(tag, text, attrs = {}) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

const numbers = new Intl.NumberFormat();
const relative = new Intl.RelativeTimeFormat(undefined, { style: "short" });

function formatNumber(n) {
  return typeof n === "number" ? numbers.format(n) : "–";
}

function formatTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso ?? "") : d.toLocaleTimeString();
}

/** "in 3 hr.", "5 min. ago": the largest unit that rounds to at least one. */
function formatRelative(iso) {
  const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
  if (!Number.isFinite(seconds)) return "";
  const units = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
  for (const [unit, size] of units) {
    const value = Math.round(seconds / size);
    if (value !== 0 || unit === "second") return relative.format(value, unit);
  }
  return "";
}

function formatDuration(seconds) {
  if (seconds === 0) return "0 s";
  if (seconds % 86400 === 0) return `${seconds / 86400} d`;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** Replaces the rows of `tbody`; `empty` is shown as one row when there are none. */
function fillTable(tbody, rows, empty) {
  const columns = tbody.closest("table").querySelectorAll("thead th").length;
  if (rows.length === 0) {
    const cell = el("td", empty, { colspan: columns, class: "muted" });
    const tr = el("tr");
    tr.append(cell);
    rows = [tr];
  }
  tbody.replaceChildren(...rows);
}

function row(...cells) {
  const tr = el("tr");
  for (const c of cells) tr.append(c instanceof Node ? c : el("td", c));
  return tr;
}

// --- counts and the deliveries-per-second chart ---------------------------------

class RateChart {
  constructor(canvas) {
    this.canvas = canvas;
    this.rates = [];  // one per second, oldest first, at most CHART_SECONDS
    this.last = null;  // {time, delivered} of the previous sample
  }

  /** Takes the `delivered` counter seen at `time` (ms); returns the rate since the last. */
  sample(time, delivered) {
    let rate = null;
    if (this.last && time > this.last.time && delivered >= this.last.delivered) {
      rate = ((delivered - this.last.delivered) * 1000) / (time - this.last.time);
      this.rates.push(rate);
      if (this.rates.length > CHART_SECONDS) this.rates.shift();
    }
    this.last = { time, delivered };
    this.draw();
    return rate;
  }

  draw() {
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(100, canvas.clientWidth);
    const height = Math.max(60, canvas.clientHeight);
    if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
    if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
    const g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    const style = getComputedStyle(canvas);
    const line = style.getPropertyValue("--chart-line").trim() || "#2563eb";
    const fill = style.getPropertyValue("--chart-fill").trim() || "rgba(37,99,235,.15)";
    const grid = style.getPropertyValue("--chart-grid").trim() || "#8884";
    const ink = style.getPropertyValue("color") || "#444";

    const peak = Math.max(1, ...this.rates);
    const top = niceCeiling(peak);
    const left = 4;
    const bottom = height - 4;
    const plotTop = 16;
    const step = (width - left * 2) / (CHART_SECONDS - 1);
    const y = (v) => bottom - ((bottom - plotTop) * v) / top;

    g.strokeStyle = grid;
    g.lineWidth = 1;
    g.beginPath();
    for (const v of [top / 2, top]) {
      g.moveTo(left, Math.round(y(v)) + 0.5);
      g.lineTo(width - left, Math.round(y(v)) + 0.5);
    }
    g.stroke();
    g.fillStyle = ink;
    g.font = "11px system-ui, sans-serif";
    g.fillText(`${formatNumber(top)}/s`, left + 2, plotTop - 4);

    if (this.rates.length > 1) {
      const x0 = width - left - (this.rates.length - 1) * step;
      g.beginPath();
      this.rates.forEach((v, i) => (i ? g.lineTo : g.moveTo).call(g, x0 + i * step, y(v)));
      g.strokeStyle = line;
      g.lineWidth = 2;
      g.stroke();
      g.lineTo(width - left, bottom);
      g.lineTo(x0, bottom);
      g.closePath();
      g.fillStyle = fill;
      g.fill();
    }

    const now = this.rates.length ? this.rates[this.rates.length - 1] : null;
    canvas.setAttribute("aria-label", now === null
      ? "Deliveries per second over the last 60 seconds: no data yet"
      : `Deliveries per second over the last ${this.rates.length} seconds: ` +
        `now ${formatRate(now)}, peak ${formatRate(Math.max(...this.rates))}`);
  }
}

/** 1, 2, 5, 10, 20, 50, ... at or above v. */
function niceCeiling(v) {
  const power = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * power >= v) return m * power;
  return 10 * power;
}

function formatRate(r) {
  return r >= 100 ? numbers.format(Math.round(r)) : r.toFixed(1);
}

const chart = new RateChart($("rate-chart"));

function showStats(stats) {
  $("stat-connections").textContent = formatNumber(stats.connections);
  $("stat-sse").textContent = formatNumber(stats.sseStreams);
  $("stat-channels").textContent = formatNumber(stats.channels);
  $("stat-published").textContent = formatNumber(stats.published);
  $("stat-delivered").textContent = formatNumber(stats.delivered);
  const rate = chart.sample(performance.now(), stats.delivered ?? 0);
  if (rate !== null) $("stat-rate").textContent = formatRate(rate);
  const uptime = formatDuration(Math.floor(stats.uptimeSeconds ?? 0));
  $("server").textContent = `version ${stats.version ?? "?"}, up ${uptime}`;
  const h = stats.history;
  if (h) {
    $("history-line").textContent =
      `History: ${h.store}, ${h.state}; ${formatNumber(h.kept)} kept in ` +
      `${formatNumber(h.channels)} channels; resumes ${formatNumber(h.resumesRecovered)} ` +
      `recovered, ${formatNumber(h.resumesNotRecovered)} not`;
  }
  const c = stats.cluster;
  if (c && c.broker === "redis") {
    const state = c.state === "up" ? "up" : `down (${c.error ?? "?"})`;
    $("server").textContent +=
      `; cluster: Redis ${state}, ${formatNumber(c.nodes)} node${c.nodes === 1 ? "" : "s"}`;
  }
}

function showChannels(reply) {
  const list = reply.channels ?? [];
  fillTable($("channels-body"), list.map((c) => {
    const count = el("td", formatNumber(c.subscribers), { class: "num" });
    return row(c.name, count);
  }), "No channels yet.");
  $("channel-names").replaceChildren(...list.map((c) => el("option", null, { value: c.name })));
}

/** A table cell with `text` and a smaller second line. */
function twoLineCell(text, second, secondClass = "") {
  const td = el("td", text);
  td.append(el("br"), el("span", second, { class: `muted small ${secondClass}` }));
  return td;
}

function showClients(reply) {
  fillTable($("clients-body"), (reply.clients ?? []).map((c) => {
    const cell = twoLineCell(c.name ?? "(unnamed)", `${c.id.slice(0, 8)}…`, "mono");
    cell.lastChild.title = c.id;
    if (c.name === null) cell.classList.add("unnamed");
    const since = el("td", formatRelative(c.connectedAt), { title: c.connectedAt });
    return row(cell, since, (c.subscriptions ?? []).join(", "));
  }), "No WebSocket clients.");
}

function showCheckins(reply) {
  fillTable($("checkins-body"), (reply.checkins ?? []).map((c) => {
    const name = twoLineCell(c.name, `every ${formatDuration(c.every)}, grace ` +
                             `${formatDuration(c.grace)}, to ${c.channel}`);
    const state = el("td");
    state.append(el("span", c.state, { class: `badge ${c.state === "late" ? "bad" : "good"}` }));
    return row(name, state, el("td", formatRelative(c.last), { title: c.last }),
               el("td", formatRelative(c.due), { title: c.due }));
  }), "No check-ins.");
}

/** Runs `task` every `period` ms; an access refusal asks for a token first
 *  (unless the user has declined: then the Token button asks). */
function poll(task, period) {
  const run = async () => {
    try {
      await task();
      setText("api-state", "");
    } catch (e) {
      if (e instanceof AccessError) {
        setText("api-state", `${e.message} (use the Token button)`);
        if (!tokens.declined) await tokens.ask(e.message);
      } else {
        setText("api-state", `API: ${e.message}`);
      }
    }
    setTimeout(run, period);
  };
  run();
}

// --- the watch panel: one WebSocket, resumed from the last position seen ----------

/** The console's WebSocket subscriber: the watched channels and where each was. */
class Watcher {
  constructor() {
    this.ws = null;
    this.paused = false;
    this.retryMs = 1000;
    this.retryTimer = 0;
    // channel -> {epoch, seq} of the last notification seen (or the channel's
    // position when subscribing afresh); kept for the tab, so a reload resumes too.
    const saved = JSON.parse(sessionStorage.getItem(WATCH_KEY) || "{}");
    this.positions = new Map(Object.entries(saved.positions ?? {}));
    this.channels = new Set(saved.channels ?? []);
    this.sentSince = new Map();  // channel -> the since of the subscribe awaiting its reply
    $("pause-button").addEventListener("click", () => this.togglePause());
    $("clear-button").addEventListener("click", () => $("feed").replaceChildren());
    this.renderChips();
    window.addEventListener("tokenchange", () => this.restart());
    if (this.channels.size) this.connect();
  }

  save() {
    sessionStorage.setItem(WATCH_KEY, JSON.stringify({
      channels: [...this.channels], positions: Object.fromEntries(this.positions),
    }));
  }

  status(text) {
    setText("watch-status", text);
  }

  watch(channel) {
    if (this.channels.has(channel)) {
      this.status(`Already watching ${channel}.`);
      return;
    }
    this.channels.add(channel);
    this.save();
    this.renderChips();
    if (this.ws?.readyState === WebSocket.OPEN) {
      this.subscribe(channel);
    } else {
      this.connect();
    }
  }

  unwatch(channel) {
    this.channels.delete(channel);
    this.save();
    this.renderChips();
    if (this.ws?.readyState === WebSocket.OPEN) this.send({ type: "unsubscribe", channel });
    this.status(`Stopped watching ${channel}.`);
    $("watch-channel").focus();
  }

  renderChips() {
    $("watched").replaceChildren(...[...this.channels].map((channel) => {
      const li = el("li");
      li.append(el("span", channel));
      li.append(el("button", "×", { type: "button", "aria-label": `Stop watching ${channel}` }));
      li.lastChild.addEventListener("click", () => this.unwatch(channel));
      return li;
    }));
    $("pause-button").disabled = this.channels.size === 0;
  }

  togglePause() {
    this.paused = !this.paused;
    $("pause-button").setAttribute("aria-pressed", String(this.paused));
    $("pause-button").textContent = this.paused ? "Resume" : "Pause";
    if (this.paused) {
      clearTimeout(this.retryTimer);
      this.ws?.close(1000, "paused");
      this.status("Paused: the connection is closed; Resume picks up what was missed.");
    } else {
      this.connect();
    }
  }

  connect() {
    if (this.paused || this.channels.size === 0) return;
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) return;
    clearTimeout(this.retryTimer);
    const url = new URL("ws", document.baseURI);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    if (tokens.token) url.searchParams.set("token", tokens.token);
    const ws = new WebSocket(url);
    this.ws = ws;
    let opened = false;
    this.status("Connecting…");
    ws.addEventListener("open", () => {
      opened = true;
      this.retryMs = 1000;
      this.send({ type: "set_name", name: "web console" });
      for (const channel of this.channels) this.subscribe(channel);
    });
    ws.addEventListener("message", (event) => this.onMessage(event.data));
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.sentSince.clear();
      if (this.paused || this.channels.size === 0) return;
      const why = opened ? `connection closed (${event.code})`
                         : "could not connect" + (tokens.token ? "" : " (a token may be needed)");
      this.status(`${why}; trying again in ${Math.round(this.retryMs / 1000)} s.`);
      this.retryTimer = setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(RECONNECT_MAX_MS, this.retryMs * 2);
    });
  }

  /** Connects again at once (with a new token), resuming every channel. */
  restart() {
    const old = this.ws;
    this.ws = null;
    old?.close(1000, "new token");
    this.sentSince.clear();
    this.retryMs = 1000;
    this.connect();
  }

  send(message) {
    this.ws.send(JSON.stringify(message));
  }

  subscribe(channel) {
    const since = this.positions.get(channel);
    this.sentSince.set(channel, since ?? null);
    this.send(since ? { type: "subscribe", channel, since } : { type: "subscribe", channel });
  }

  onMessage(data) {
    let m;
    try {
      m = JSON.parse(data);
    } catch {
      return;
    }
    switch (m.type) {
      case "subscribed": this.onSubscribed(m); break;
      case "notification": this.onNotification(m); break;
      case "resync":
        this.setPosition(m.channel, m.epoch, m.seq);
        this.status(`${m.channel}: could not resume (${m.reason}); notifications may be missing.`);
        break;
      case "ping": this.send({ type: "pong" }); break;
      case "error": this.status(`Server: ${m.error}`); break;
      case "server_shutdown": this.status("The server is shutting down."); break;
      default: break;
    }
  }

  onSubscribed(m) {
    const since = this.sentSince.get(m.channel);
    this.sentSince.delete(m.channel);
    if (since && m.recovered) {
      // The missed notifications follow this reply and move the position on.
      this.status(`${m.channel}: resumed from ${since.epoch}:${since.seq}, ` +
                  `recovered ${m.missed}.`);
      return;
    }
    this.setPosition(m.channel, m.epoch, m.seq);
    if (since) {
      this.status(`${m.channel}: could not resume from ${since.epoch}:${since.seq}; ` +
                  `notifications may be missing (now at ${m.epoch}:${m.seq}).`);
    } else {
      this.status(`Watching ${m.channel} (${m.subscriberCount} subscribed, ` +
                  `at ${m.epoch}:${m.seq}).`);
    }
  }

  setPosition(channel, epoch, seq) {
    this.positions.set(channel, { epoch, seq });
    this.save();
  }

  onNotification(n) {
    const at = this.positions.get(n.channel);
    if (at && at.epoch === n.epoch && n.seq <= at.seq) return;  // seen already
    if (typeof n.epoch === "string" && Number.isInteger(n.seq)) {
      this.setPosition(n.channel, n.epoch, n.seq);
    }
    const item = el("li");
    const head = el("div", null, { class: "meta" });
    head.append(el("span", n.channel, { class: "chip" }),
                el("time", formatTime(n.timestamp), { datetime: n.timestamp }),
                el("span", n.id ?? "", { class: "mono muted" }));
    item.append(head, el("strong", n.title ?? ""));
    if (n.body) item.append(el("p", n.body));
    if (n.data !== undefined) item.append(el("pre", JSON.stringify(n.data), { class: "mono" }));
    const feed = $("feed");
    feed.prepend(item);
    while (feed.childElementCount > FEED_MAX) feed.lastElementChild.remove();
  }
}

const watcher = new Watcher();

$("watch-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("watch-channel");
  watcher.watch(input.value.trim());
  input.value = "";
});

// --- the publish form --------------------------------------------------------------

$("publish-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const out = $("publish-result");
  const dataField = $("publish-data");
  const message = { body: $("publish-body").value };
  const title = $("publish-title").value.trim();
  if (title) message.title = title;
  dataField.removeAttribute("aria-invalid");
  if (dataField.value.trim()) {
    let data;
    try {
      data = JSON.parse(dataField.value);
    } catch {
      data = undefined;
    }
    if (data === null || typeof data !== "object" || Array.isArray(data)) {
      dataField.setAttribute("aria-invalid", "true");
      out.textContent = "Data must be a JSON object.";
      dataField.focus();
      return;
    }
    message.data = data;
  }
  const channel = $("publish-channel").value.trim();
  out.textContent = "Publishing…";
  for (;;) {
    try {
      const reply = await api(`api/notify/${encodeURIComponent(channel)}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(message),
      });
      out.textContent = `Published ${reply.id}: seq ${reply.seq}, epoch ${reply.epoch}, ` +
                        `delivered to ${reply.delivered}.`;
      return;
    } catch (e) {
      out.textContent = `Not published: ${e.message}`;
      if (!(e instanceof AccessError) || (await tokens.ask(e.message)) !== "save") return;
    }
  }
});

// --- start -----------------------------------------------------------------------

poll(async () => showStats(await api("api/stats")), STATS_PERIOD_MS);
poll(async () => {
  const [channels, clients, checkins] = await Promise.all(
    [api("api/channels"), api("api/clients"), api("api/checkins")]);
  showChannels(channels);
  showClients(clients);
  showCheckins(checkins);
}, LISTS_PERIOD_MS);
window.addEventListener("resize", () => chart.draw());
