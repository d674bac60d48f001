// certgate's dashboard: a static page over the admin API. The token lives in session storage
// and travels only as `Authorization: Bearer`; every value is written with textContent, never
// as HTML. Refreshes every few seconds.
"use strict";

const REFRESH_MS = 3000;
const TOKEN_KEY = "certgate-token";
const state = { admin: false, tab: "certificates", certs: [], generations: {}, detail: null, timer: null };

// Content-Security-Policy violations are counted where a test (or a curious operator) can see them.
document.body.dataset.cspViolations = "0";
document.addEventListener("securitypolicyviolation", () => {
  document.body.dataset.cspViolations = String(Number(document.body.dataset.cspViolations) + 1);
});

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(method, path) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const response = await fetch(path, { method, headers: { Authorization: "Bearer " + token } });
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = null; }
  return { status: response.status, body };
}

// Every page of a list endpoint (it answers `limit` entries and a Link: rel="next").
async function all(path) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  let next = path;
  const items = [];
  while (next) {
    const response = await fetch(next, { headers: { Authorization: "Bearer " + token } });
    if (!response.ok) throw new Error(path + ": HTTP " + response.status);
    items.push(...(await response.json()));
    const link = response.headers.get("link") || "";
    const m = link.match(/<([^>]+)>;\s*rel="next"/);
    next = m ? m[1] : null;
  }
  return items;
}

function showError(text) { $("error").textContent = text || ""; }

// --- login -----------------------------------------------------------------------------------

async function login(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
  const probe = await api("GET", "/certificates/?limit=1");
  if (probe.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    $("login-error").textContent = "That token is not known.";
    return;
  }
  const me = await api("GET", "/whoami");
  state.admin = Boolean(me.body && me.body.admin);
  $("login").hidden = true;
  $("tabs").hidden = false;
  $("logout").hidden = false;
  $("cluster-tab").hidden = !state.admin;
  $("whoami").textContent = state.admin ? "admin token" : "token " + ((me.body && me.body.name) || "") + " (your certificates and routes)";
  switchTab("certificates");
  refresh();
  state.timer = setInterval(refresh, REFRESH_MS);
}

function logout() {
  sessionStorage.removeItem(TOKEN_KEY);
  clearInterval(state.timer);
  location.reload();
}

function switchTab(tab) {
  state.tab = tab;
  for (const section of document.querySelectorAll("section.tab")) section.hidden = section.id !== tab;
  for (const b of document.querySelectorAll("nav button")) b.classList.toggle("active", b.dataset.tab === tab);
  refresh();
}

// --- certificates ----------------------------------------------------------------------------

function countdown(cert) {
  if (!cert.expires_at) return el("span", {}, "–");
  const end = Date.parse(cert.expires_at);
  const start = cert.not_before ? Date.parse(cert.not_before) : end - 90 * 86400e3;
  const left = end - Date.now();
  const share = left / Math.max(1, end - start);
  const cls = left <= 0 ? "urgent" : share > 1 / 3 ? "ok" : share > 1 / 10 ? "soon" : "urgent";
  const text = left <= 0 ? "expired" : humanDuration(left);
  return el("span", { class: "countdown " + cls, title: cert.expires_at }, text);
}

function humanDuration(ms) {
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d > 0) return d + "d " + h + "h";
  if (h > 0) return h + "h " + m + "m";
  return m + "m " + (s % 60) + "s";
}

function renewalCell(cert) {
  const at = cert.renewal_at || cert.next_renewal_at;
  const cell = el("td", {}, at ? new Date(at).toLocaleString() : "–");
  if (cert.renewal_window) {
    cell.append(el("span", { class: "window" },
      "ARI window " + new Date(cert.renewal_window.start).toLocaleString() + " – " +
      new Date(cert.renewal_window.end).toLocaleString()));
  }
  return cell;
}

function issuerText(cert) {
  if (cert.issuer === "self-signed") return "self-signed";
  let text = cert.staging ? "ACME (staging)" : "ACME";
  if (cert.acme_directory_url) text += " " + new URL(cert.acme_directory_url).host;
  if (cert.profile) text += " · " + cert.profile;
  return text;
}

function actions(cert) {
  const cell = el("td", {});
  if (!state.admin && !cert.owner_token_hash) return cell;
  const renew = el("button", { type: "button", class: "act", "data-action": "renew" }, "Renew");
  renew.addEventListener("click", async (e) => {
    e.stopPropagation();
    const r = await api("POST", "/certificates/" + encodeURIComponent(cert.cert_name) + "/renew");
    if (r.status >= 300) return showError("renew " + cert.cert_name + ": " + ((r.body && r.body.detail) || r.status));
    state.generations[cert.cert_name] = { status: "pending", message: "renewal requested" };
    followGeneration(cert.cert_name);
    renderCerts();
  });
  const del = el("button", { type: "button", class: "act", "data-action": "delete" }, "Delete");
  del.addEventListener("click", async (e) => {
    e.stopPropagation();
    if (!del.classList.contains("confirm")) {
      del.classList.add("confirm");
      del.textContent = "Confirm delete";
      setTimeout(() => { del.classList.remove("confirm"); del.textContent = "Delete"; }, 5000);
      return;
    }
    const r = await api("DELETE", "/certificates/" + encodeURIComponent(cert.cert_name));
    if (r.status >= 300) return showError("delete " + cert.cert_name + ": " + ((r.body && r.body.detail) || r.status));
    refresh();
  });
  cell.append(renew, del);
  return cell;
}

// Polls a generation's status until it ends, so the row shows it moving.
async function followGeneration(name) {
  for (let i = 0; i < 120; i++) {
    const r = await api("GET", "/certificates/" + encodeURIComponent(name) + "/status");
    if (r.status === 200 && r.body) {
      state.generations[name] = r.body;
      renderCerts();
      if (r.body.status === "completed" || r.body.status === "failed") { refresh(); return; }
    }
    await new Promise((done) => setTimeout(done, 500));
  }
}

function renderCerts() {
  const text = $("filter").value.trim().toLowerCase();
  const status = $("status-filter").value;
  // A non-admin token is shown its own certificates only (the API shows the owner to the owner).
  const shown = state.certs.filter((c) => (state.admin || c.owner_token_hash) &&
    (!status || c.status === status) &&
    (!text || [c.cert_name, ...c.domains, c.owner || "", c.last_error || ""].join(" ").toLowerCase().includes(text)));
  const rows = shown.map((cert) => {
    const statusCell = el("td", { class: "status status-" + cert.status }, cert.status);
    const gen = state.generations[cert.cert_name];
    if (gen) statusCell.append(el("span", { class: "generation" }, "generation: " + gen.status + (gen.message ? " – " + gen.message : "")));
    if (cert.last_error && cert.status !== "active") statusCell.append(el("span", { class: "last-error" }, cert.last_error));
    const row = el("tr", { class: "cert", "data-cert": cert.cert_name },
      el("td", {}, cert.cert_name), el("td", {}, cert.domains.join(", ")), el("td", {}, issuerText(cert)),
      statusCell, el("td", {}, countdown(cert)), renewalCell(cert), el("td", {}, cert.owner || "–"), actions(cert));
    row.addEventListener("click", () => showDetail(cert.cert_name));
    return row;
  });
  $("cert-rows").replaceChildren(...rows);
  $("cert-count").textContent = shown.length + " of " + state.certs.length;
}

async function showDetail(name) {
  const r = await api("GET", "/certificates/" + encodeURIComponent(name) + "?chain=true");
  if (r.status !== 200) return showError(name + ": HTTP " + r.status);
  $("detail-title").textContent = name + " — chain";
  $("chain-rows").replaceChildren(...(r.body.chain || []).map((c, i) => el("tr", {},
    el("td", {}, i === 0 ? "leaf" : String(i)), el("td", {}, c.subject), el("td", {}, c.issuer),
    el("td", {}, c.not_before), el("td", {}, c.not_after), el("td", {}, c.serial))));
  $("detail").hidden = false;
}

// --- routes and cluster ----------------------------------------------------------------------

function renderRoutes(routes) {
  const mine = routes.filter((r) => state.admin || r.owner_token_hash);
  $("route-rows").replaceChildren(...mine.map((r) => el("tr", { "data-route": r.hostname },
    el("td", {}, r.hostname),
    el("td", {}, (r.upstreams && r.upstreams.length ? r.upstreams.map((u) => u.url + (u.weight > 1 ? " ×" + u.weight : "")) : [r.upstream]).join(", ") +
      (r.policy && r.policy !== "round_robin" ? " (" + r.policy + ")" : "")),
    el("td", {}, r.cert_name || "by SNI"),
    el("td", {}, r.https_redirect ? "redirect" : "proxied"),
    el("td", {}, trafficSummary(r)))));
}

// What a route does to traffic on the way: compression, client address rules, rate limit.
function trafficSummary(r) {
  const parts = [];
  if (r.encode && r.encode.length) parts.push("compress " + r.encode.join(", "));
  if (r.ip_rules) {
    const allow = (r.ip_rules.allow || []).length, deny = (r.ip_rules.deny || []).length;
    parts.push("ip rules: " + allow + " allowed, " + deny + " denied");
  }
  if (r.rate_limit) {
    parts.push("limit " + r.rate_limit.requests + "/" + r.rate_limit.per_seconds + " s per " + r.rate_limit.key);
  }
  return parts.join(" · ") || "—";
}

// certgate_requests_total from /metrics, summed by protocol and status class.
function requestsByProtocol(metricsText) {
  const counts = { h1: {}, h2: {}, h3: {} };
  for (const line of metricsText.split("\n")) {
    if (!line.startsWith("certgate_requests_total{")) continue;
    const protocol = (line.match(/protocol="(h[123])"/) || [])[1];
    const cls = (line.match(/class="(\dxx)"/) || [])[1];
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (!protocol || !cls || Number.isNaN(value)) continue;
    counts[protocol][cls] = (counts[protocol][cls] || 0) + value;
  }
  return counts;
}

function renderProtocols(metricsText) {
  const counts = requestsByProtocol(metricsText);
  const names = { h1: "HTTP/1.1", h2: "HTTP/2", h3: "HTTP/3" };
  $("protocol-rows").replaceChildren(...Object.keys(counts).map((p) => {
    const c = counts[p];
    const all = Object.values(c).reduce((a, b) => a + b, 0);
    return el("tr", { "data-protocol": p }, el("td", {}, names[p]),
      ...["2xx", "3xx", "4xx", "5xx"].map((k) => el("td", {}, String(c[k] || 0))), el("td", {}, String(all)));
  }));
}

async function metricsText() {
  const response = await fetch("/metrics", {
    headers: { Authorization: "Bearer " + sessionStorage.getItem(TOKEN_KEY) } });
  return response.ok ? response.text() : "";
}

async function renderCluster() {
  const [health, instances, events, metrics] = await Promise.all([
    api("GET", "/health"), api("GET", "/cluster/instances"), api("GET", "/events/"), metricsText()]);
  renderProtocols(metrics);
  const h = health.body || {};
  $("health").textContent = "status: " + (h.status || health.status) + (h.reasons && h.reasons.length ? " (" + h.reasons.join(", ") + ")" : "") +
    (h.redis ? " · Redis: " + (typeof h.redis === "string" ? h.redis : JSON.stringify(h.redis)) : "");
  $("instance-rows").replaceChildren(...(instances.body || []).map((i) => el("tr", {},
    el("td", {}, i.id), el("td", {}, i.version), el("td", {}, i.started_at), el("td", {}, i.seen_at),
    el("td", {}, i.https_addr), el("td", {}, i.admin_addr))));
  $("event-rows").replaceChildren(...(events.body || []).map((e) => el("tr", {},
    el("td", {}, e.at), el("td", {}, e.kind), el("td", {}, e.name), el("td", {}, e.outcome), el("td", {}, e.message || ""))));
}

async function refresh() {
  if (!sessionStorage.getItem(TOKEN_KEY)) return;
  try {
    if (state.tab === "certificates") {
      // A non-admin token asks Redis for its own only (the owner index), not for every page.
      state.certs = await all(state.admin ? "/certificates/" : "/certificates/?owner=me");
      renderCerts();
    } else if (state.tab === "routes") {
      renderRoutes(await all("/proxies/"));
    } else if (state.tab === "cluster") {
      await renderCluster();
    }
    showError("");
  } catch (e) {
    showError("Could not refresh: " + e.message);
  }
}

// --- wiring ----------------------------------------------------------------------------------

$("login").addEventListener("submit", (e) => { e.preventDefault(); login($("token").value.trim()); });
$("logout").addEventListener("click", logout);
$("filter").addEventListener("input", renderCerts);
$("status-filter").addEventListener("change", renderCerts);
$("detail-close").addEventListener("click", () => { $("detail").hidden = true; });
for (const b of document.querySelectorAll("nav button")) b.addEventListener("click", () => switchTab(b.dataset.tab));
if (sessionStorage.getItem(TOKEN_KEY)) login(sessionStorage.getItem(TOKEN_KEY));
