/* app.js -- the rollout timeline (docs/ui.md).
 *
 * One code path reads a service's history and follows it live: fetch() on
 * GET /v1/{project}/services/{service}/logs:watch, its Server-Sent Events
 * parsed here from the response's ReadableStream. EventSource would do the
 * parsing, but it cannot send X-Auth-Token, nor show why a watch was
 * refused (it sees no status, no body). The `snapshot` event renders the
 * timeline; each `log` event adds or replaces one card (RUNNING -> its
 * result); an `error` event or a lost connection reconnects with back-off
 * (1 s doubling to 30 s) and says so; the fresh snapshot holds whatever
 * was missed. 400/401/403/404 stop and explain themselves.
 *
 * No framework, no build step; the page's CSP forbids inline script and
 * style attributes, so sizes are set through the CSSOM (el.style.width).
 */
"use strict";

(function () {
  const TOKEN_KEY = "servicelogs.token";
  const $ = (id) => document.getElementById(id);
  const st = { gen: 0, ctrl: null, timer: 0, tries: 0, logs: [], focus: null,
               project: "", service: "" };

  /* el("td", "cls", "text", child...): a new element. */
  function el(tag, cls, text, ...kids) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    for (const k of kids) if (k) e.append(k);
    return e;
  }

  function setStatus(text, cls) {
    const s = $("status");
    s.textContent = text;
    s.className = cls || "";
  }

  function link(project, service, time) {
    const q = new URLSearchParams({ project, service });
    if (time !== undefined) q.set("update_time", String(time));
    return "/ui/?" + q.toString();
  }

  /* ---- times ---------------------------------------------------------- */
  function utc(ms) {
    const d = new Date(ms);
    if (isNaN(d)) return String(ms);
    return d.toISOString().replace("T", " ").replace(/\.000Z$|Z$/, "") + " UTC";
  }
  function local(ms) {
    const d = new Date(ms);
    return isNaN(d) ? String(ms) : d.toLocaleString(undefined,
      { dateStyle: "medium", timeStyle: "medium" });
  }

  /* ---- errors: sentences a person can act on ---------------------------- */
  const FATAL = new Set([400, 401, 403, 404, 405]);

  function sentence(status, body) {
    const code = body && body.error_code ? body.error_code : "";
    const p = "“" + st.project + "”", s = "“" + st.service + "”";
    switch (code) {
    case "ModelArts.0201":
      return "This server checks tokens and none was sent. Enter your token " +
        "in the Token field and press Show timeline.";
    case "ModelArts.0203":
      return "The server does not accept this token. Check it (tokens are " +
        "case-sensitive) and enter it again.";
    case "ModelArts.0210":
      return "This token is not valid for project " + p + ". Use a token " +
        "issued for this project.";
    case "ModelArts.3502":
      return "There is no service " + s + " in project " + p + ". Check " +
        "both IDs; they are case-sensitive.";
    case "ModelArts.2858":
      return s + " is a batch service, so it has no update logs: the API " +
        "keeps a rollout history only for real-time and edge services, " +
        "which are deployed and updated in place; a batch service runs " +
        "jobs instead.";
    case "ModelArts.0101":
      return "The server refused the request as invalid. Check the project " +
        "and service IDs.";
    case "ModelArts.2799":
      return "The server is busy (too many live watchers, or this one fell " +
        "behind).";
    case "ModelArts.4302":
      return "The server is shutting down or not serving right now.";
    }
    if (status === 401 || status === 403)
      return "The server refused this token for project " + p + ".";
    if (status === 404)
      return "This server does not serve the update-logs API at this address.";
    if (status === 504) return "The server did not answer in time.";
    return "The server could not answer (HTTP " + status + ").";
  }

  function showError(status, body) {
    const box = $("error");
    const code = body && body.error_code ? body.error_code : "no error code";
    box.replaceChildren(
      el("p", "sentence", sentence(status, body)),
      el("p", "code", "HTTP " + status + " · " + code +
        (body && body.error_msg ? " · the server said: " + body.error_msg
                                : "")));
    box.hidden = false;
    if (status === 401 || status === 403) $("token").focus();
  }

  /* ---- what changed from the previous update -----------------------------
   * Each config is paired with one of the previous update's: the same
   * model_id first, else the same model_name (a new version of a model has
   * a new model_id); the rest are added or removed. d.configs[i] holds,
   * for config i, the previous values of the fields that changed. */
  function pair(cur, prev) {
    const left = prev.slice(), match = new Array(cur.length).fill(null);
    const take = (i, test) => {
      const j = left.findIndex((p) => p && test(p));
      if (j >= 0) { match[i] = left[j]; left[j] = null; }
    };
    cur.forEach((c, i) => { if (c.model_id) take(i, (p) => p.model_id === c.model_id); });
    cur.forEach((c, i) => {
      if (!match[i] && c.model_name) take(i, (p) => p.model_name === c.model_name);
    });
    return [match, left.filter((p) => p)];
  }

  function diff(cur, prev) {
    const out = { configs: [], added: new Set(), removed: [], summary: [] };
    if (!prev) return out;
    const [match, removed] = pair(cur.config || [], prev.config || []);
    (cur.config || []).forEach((c, i) => {
      const old = match[i], name = c.model_name || c.model_id || "?";
      if (!old) {
        out.added.add(i);
        out.summary.push(name + " " + (c.model_version || "") + " added");
        return;
      }
      const ch = {};
      for (const f of ["model_version", "weight", "instance_count"]) {
        if (f in c && c[f] !== old[f]) {
          ch[f] = old[f];
          out.summary.push(name + " " + f.replace("_", " ") + " " +
            (old[f] === undefined ? "unset" : old[f]) + " → " + c[f]);
        }
      }
      const ne = c.envs || {}, oe = old.envs || {};
      const envs = [];
      for (const e of Object.keys(ne))
        if (!(e in oe)) envs.push("+" + e);
        else if (ne[e] !== oe[e]) envs.push("~" + e);
      for (const e of Object.keys(oe)) if (!(e in ne)) envs.push("−" + e);
      if (envs.length) {
        ch.envs = envs;
        out.summary.push(name + " envs " + envs.join(" "));
      }
      out.configs[i] = ch;
    });
    for (const c of removed) {
      out.removed.push(c);
      out.summary.push((c.model_name || c.model_id) + " " +
        (c.model_version || "") + " removed");
    }
    return out;
  }

  /* ---- rendering --------------------------------------------------------- */
  const RESULT = {
    SUCCESS: ["success", "✔ SUCCESS"],
    FAIL: ["fail", "✘ FAIL"],
    RUNNING: ["running", "In progress: RUNNING"],
  };

  function cell(value, was, note) {
    const td = el("td");
    if (was === undefined) {
      td.textContent = value === undefined ? "–" : String(value);
      return td;
    }
    td.append(el("mark", "changed", value === undefined ? "–" : value),
      el("span", "was", note || " (was " + (was === undefined ? "unset" : was) +
        ")"));
    return td;
  }

  function configTable(log, d, realtime) {
    const t = el("table", "configs");
    t.append(el("caption", "", "Configuration after the update"));
    const cols = ["Model", "Version", "Specification"];
    if (realtime) cols.push("Instances", "Weight");
    cols.push("Environment");
    t.append(el("thead", "", null, el("tr", "", null,
      ...cols.map((c) => { const h = el("th", "", c); h.scope = "col"; return h; }))));
    const body = el("tbody");
    (log.config || []).forEach((c, i) => {
      const ch = d.configs[i] || {};
      const tr = el("tr", d.added.has(i) ? "added" : "");
      const name = el("th", "", c.model_name || "–");
      name.scope = "row";
      if (c.model_id) name.append(el("span", "id", " " + c.model_id));
      if (d.added.has(i)) name.append(" ", el("mark", "changed", "new"));
      tr.append(name, cell(c.model_version, ch.model_version),
        cell(c.specification));
      if (realtime)
        tr.append(cell(c.instance_count, ch.instance_count),
          cell(c.weight === undefined ? undefined : c.weight + "%",
            ch.weight === undefined ? undefined : ch.weight + "%"));
      const envs = el("td", "envs");
      const keys = Object.keys(c.envs || {});
      for (const e of keys) {
        const added = ch.envs && ch.envs.includes("+" + e);
        const changed = ch.envs && ch.envs.includes("~" + e);
        const text = e + "=" + c.envs[e];
        envs.append(added || changed ? el("mark", "changed",
          (added ? "+ " : "~ ") + text) : el("code", "", text), " ");
      }
      for (const e of ch.envs || [])
        if (e[0] === "−") envs.append(el("del", "", "− " + e.slice(1)), " ");
      if (!envs.childNodes.length) envs.textContent = "–";
      tr.append(envs);
      body.append(tr);
    });
    t.append(body);
    return t;
  }

  function weightBar(log) {
    const cs = (log.config || []).filter((c) => c.weight > 0);
    const sum = cs.reduce((a, c) => a + c.weight, 0);
    const box = el("div", "weights");
    box.append(el("h4", "", "Traffic weights"));
    if (!sum) {
      box.append(el("p", "", "No traffic weights set."));
      return box;
    }
    const labels = cs.map((c) => (c.model_name || c.model_id || "?") + " " +
      (c.model_version || "") + ": " + c.weight + "%");
    const bar = el("div", "bar");
    bar.setAttribute("role", "img");
    bar.setAttribute("aria-label", "Traffic weights: " + labels.join(", ") +
      (sum < 100 ? ", " + (100 - sum) + "% unassigned" : ""));
    const legend = el("ul", "legend");
    cs.forEach((c, i) => {
      const seg = el("span", "seg seg-" + (i % 6), c.weight + "%");
      seg.style.width = (100 * c.weight / Math.max(sum, 100)) + "%";
      seg.title = labels[i];
      bar.append(seg);
      legend.append(el("li", "", null, el("span", "swatch seg-" + (i % 6)),
        labels[i]));
    });
    if (sum < 100) { /* the rest of the traffic is nobody's: say so */
      const rest = el("span", "rest", (100 - sum) + "% unassigned");
      rest.style.width = (100 - sum) + "%";
      bar.append(rest);
      legend.append(el("li", "", (100 - sum) + "% of the traffic unassigned"));
    }
    box.append(bar, legend);
    return box;
  }

  function nodeTable(log) {
    const box = el("div", "nodes");
    box.append(el("p", "counts", null,
      el("span", "ok", "✔ " + (log.success_num || 0) + " succeeded"), " · ",
      el("span", "bad", "✘ " + (log.failed_num || 0) + " failed")));
    const rows = (log.result_detail || []).slice()
      .sort((a, b) => (a.result === b.result ? 0 : a.result ? 1 : -1));
    if (!rows.length) return box;
    const t = el("table", "nodes");
    t.append(el("caption", "", "Nodes, failed first"));
    t.append(el("thead", "", null, el("tr", "", null,
      ...["Node", "Node ID", "Operation", "Result"].map((c) => {
        const h = el("th", "", c); h.scope = "col"; return h;
      }))));
    const body = el("tbody");
    for (const n of rows) {
      const name = el("th", "", n.node_name || "–");
      name.scope = "row";
      body.append(el("tr", n.result ? "ok" : "bad", null, name,
        el("td", "", n.node_id || "–"), el("td", "", n.operation || "–"),
        el("td", "result", n.result ? "✔ succeeded" : "✘ failed")));
    }
    t.append(body);
    box.append(t);
    return box;
  }

  function card(log, prev) {
    const t = log.update_time;
    const [cls, label] = RESULT[log.result] || ["unknown", String(log.result)];
    const li = el("li", "card " + cls);
    li.id = "u-" + t;
    li.dataset.time = String(t);
    li.dataset.result = String(log.result);
    if (log.result === "RUNNING") li.setAttribute("aria-busy", "true");
    const a = el("a", "when", null, el("time", "", local(t)));
    a.href = link(st.project, st.service, t);
    a.querySelector("time").dateTime = new Date(t).toISOString();
    const h = el("h3", "", null, a, " ", el("span", "badge " + cls, label));
    li.append(h, el("p", "utc", utc(t) + " · update_time " + t));
    const d = diff(log, prev);
    if (prev)
      li.append(el("p", "summary", d.summary.length
        ? "Changed: " + d.summary.join("; ") + "."
        : "No configuration change from the previous update."));
    const edge = "success_num" in log || "result_detail" in log;
    const realtime = !edge && (log.config || []).some((c) => "weight" in c);
    if ((log.config || []).length) li.append(configTable(log, d, realtime));
    if (d.removed.length)
      li.append(el("p", "removed", "Removed: " + d.removed.map((c) =>
        (c.model_name || c.model_id) + " " + (c.model_version || "")).join(", ")));
    if (realtime) li.append(weightBar(log));
    if (edge) li.append(nodeTable(log));
    return li;
  }

  function render() {
    const had = document.activeElement && document.activeElement.closest &&
      document.activeElement.closest(".card");
    const ol = $("timeline");
    const logs = st.logs; /* oldest first, as the API sends them */
    const cards = logs.map((l, i) => card(l, logs[i - 1]));
    ol.replaceChildren(...cards.reverse());
    if (!logs.length)
      ol.append(el("li", "empty", "This service has no update logs yet."));
    if (had && $(had.id)) $(had.id).querySelector("a").focus();
    if (st.focus !== null) {
      const c = $("u-" + st.focus);
      if (c) {
        c.classList.add("selected");
        c.setAttribute("aria-current", "true");
      }
    }
  }

  function openFocus() {
    if (st.focus === null) return;
    const c = $("u-" + st.focus);
    if (!c) {
      setStatus("No update at update_time " + st.focus +
        " in this service's history; showing all of it.", "note");
      return;
    }
    c.scrollIntoView({ block: "start" });
    c.querySelector("a").focus();
  }

  /* ---- the watch: fetch + the event-stream format ------------------------ */
  function retry(gen, why) {
    if (gen !== st.gen) return;
    const secs = Math.min(30, 2 ** st.tries++);
    setStatus(why + " Reconnecting… (attempt " + st.tries + ", in " + secs +
      " s)", "warn");
    st.timer = setTimeout(() => watch(gen), secs * 1000);
  }

  function onEvent(type, data, first) {
    let obj;
    try { obj = JSON.parse(data); } catch (e) { return; }
    if (type === "snapshot") {
      st.logs = obj.logs || [];
      st.tries = 0;
      $("title").textContent = (obj.service_name || st.service) + " (" +
        st.service + ", project " + st.project + ")";
      $("title").hidden = false;
      render();
      setStatus("Live: new updates appear as they are recorded.", "live");
      if (first.value) openFocus();
      first.value = false;
    } else if (type === "log") {
      const i = st.logs.findIndex((l) => l.update_time === obj.update_time);
      if (i >= 0) st.logs[i] = obj;
      else {
        st.logs.push(obj);
        st.logs.sort((a, b) => a.update_time - b.update_time);
      }
      render();
      setStatus("Live: the update of " + local(obj.update_time) + " is " +
        obj.result + ".", "live");
    } else if (type === "error") {
      st.lastError = (obj.error_code === "ModelArts.0101"
        ? "An import replaced this service's history." /* 409 */
        : sentence(0, obj)) + " (" + obj.error_code + ")";
    }
  }

  async function watch(gen) {
    if (gen !== st.gen) return;
    st.lastError = "";
    const url = "/v1/" + encodeURIComponent(st.project) + "/services/" +
      encodeURIComponent(st.service) + "/logs:watch";
    const headers = { Accept: "text/event-stream" };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers["X-Auth-Token"] = token;
    let res;
    try {
      res = await fetch(url, { headers, cache: "no-store",
                               signal: st.ctrl.signal });
    } catch (e) {
      return retry(gen, "The connection to the server failed.");
    }
    if (!res.ok) {
      let body = null;
      try { body = await res.json(); } catch (e) { /* not JSON */ }
      if (gen !== st.gen) return;
      if (FATAL.has(res.status)) {
        showError(res.status, body);
        setStatus("");
        st.logs = [];
        $("timeline").replaceChildren();
        $("title").hidden = true;
        return;
      }
      return retry(gen, sentence(res.status, body));
    }
    $("error").hidden = true;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "", type = "", data = [];
    const first = { value: true };
    for (;;) {
      let r;
      try { r = await reader.read(); } catch (e) { break; }
      if (r.done || gen !== st.gen) break;
      buf += r.value;
      const lines = buf.split("\n");
      buf = lines.pop();
      for (let line of lines) {
        line = line.replace(/\r$/, "");
        if (line === "") {
          if (data.length) onEvent(type || "message", data.join("\n"), first);
          type = "";
          data = [];
          continue;
        }
        if (line[0] === ":") continue; /* a keepalive comment */
        const c = line.indexOf(":");
        const field = c < 0 ? line : line.slice(0, c);
        const value = c < 0 ? "" : line.slice(c + 1).replace(/^ /, "");
        if (field === "event") type = value;
        else if (field === "data") data.push(value);
      }
    }
    retry(gen, st.lastError ? "The server ended the watch: " + st.lastError
                            : "The connection to the server was lost.");
  }

  /* ---- the form, the URL, the keyboard ----------------------------------- */
  function start() {
    st.gen++;
    if (st.ctrl) st.ctrl.abort();
    clearTimeout(st.timer);
    st.ctrl = new AbortController();
    st.tries = 0;
    st.logs = [];
    $("timeline").replaceChildren();
    $("error").hidden = true;
    $("title").hidden = true;
    if (!st.project || !st.service) {
      setStatus("Enter a project ID and a service ID.");
      return;
    }
    setStatus("Loading " + st.service + "…");
    watch(st.gen);
  }

  function fromUrl() {
    const q = new URLSearchParams(location.search);
    st.project = q.get("project") || "";
    st.service = q.get("service") || "";
    const t = q.get("update_time");
    st.focus = t && /^\d+$/.test(t) ? Number(t) : null;
    $("project").value = st.project;
    $("service").value = st.service;
    start();
  }

  $("token").value = sessionStorage.getItem(TOKEN_KEY) || "";
  $("pick").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const token = $("token").value.trim();
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
    st.project = $("project").value.trim();
    st.service = $("service").value.trim();
    st.focus = null;
    history.pushState(null, "", link(st.project, st.service));
    start();
  });
  window.addEventListener("popstate", fromUrl);
  /* Up/Down (or k/j) move between the cards' links. */
  $("timeline").addEventListener("keydown", (ev) => {
    const step = { ArrowDown: 1, j: 1, ArrowUp: -1, k: -1 }[ev.key];
    const cur = ev.target.closest && ev.target.closest(".card");
    if (!step || !cur || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const next = step > 0 ? cur.nextElementSibling : cur.previousElementSibling;
    if (next && next.querySelector("a")) {
      ev.preventDefault();
      next.querySelector("a").focus();
    }
  });
  fromUrl();
})();
