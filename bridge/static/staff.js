/*
 * The staff page: look a Zendesk Chat visitor up through GET /v1/visitors/{id}, and a login
 * user up in every support tool through GET /v1/login-users/{id} (one card per tool).
 * The staff key lives only in the password field and this function's locals: it is never
 * written to storage, a cookie or the URL. With no key, the browser's login cookie is used
 * (when the gateway accepts staff logins).
 */
(function () {
  "use strict";

  const loginCookie = document.body.dataset.loginCookie === "true";
  const form = document.getElementById("lookup");
  const keyField = document.getElementById("key");
  const result = document.getElementById("result");

  if (loginCookie) {
    document.getElementById("key-hint").textContent =
      "The staff key is kept in this page's memory only. Leave it empty to use your own " +
      "staff login (this gateway accepts it) instead.";
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    }
    for (const child of children || []) node.append(child);
    return node;
  }

  function when(created) {
    if (created === null || created === undefined || created === "") return "—";
    const date = typeof created === "number" ? new Date(created * 1000) : new Date(created);
    return Number.isNaN(date.getTime()) ? String(created) : date.toISOString().replace(".000Z", "Z");
  }

  function text(value) {
    if (value === null || value === undefined || value === "") return "—";
    return String(value);
  }

  function show(kind, children) {
    result.hidden = false;
    result.className = "card result " + kind;
    result.replaceChildren(...children);
  }

  function showVisitor(data) {
    const v = data.visitor;
    const verdict = data.linked
      ? el("p", { class: "verdict linked", id: "verdict", "data-linked": "true" }, [
          "Linked to login user ",
          el("code", { text: data.login_user_id }),
        ])
      : el("p", { class: "verdict unlinked", id: "verdict", "data-linked": "false",
          text: "Not linked: this visitor has no external_id (not signed in through bridge)" });
    const source = data.source === "cache" ? "from the cache" : "fresh from Zendesk";
    const rows = [
      ["Visitor ID", text(v.id)],
      ["Email", text(v.email)],
      ["Phone", text(v.phone)],
      ["Notes", text(v.notes)],
      ["Banned", v.banned ? "yes" : "no"],
      ["Created", when(v.created)],
      ["external_id", text(v.external_id)],
    ];
    show("found", [
      el("header", {}, [
        el("h2", { id: "visitor-name", text: text(v.name) }),
        el("span", { class: "badge source", id: "source", "data-source": data.source, text: source }),
      ]),
      verdict,
      el("dl", { class: "facts" }, rows.flatMap(([k, val]) => [el("dt", { text: k }), el("dd", { text: val })])),
    ]);
  }

  /** What a person should read for each failure; the gateway's code is shown beside it. */
  function explain(status, code, retryAfter, usedKey) {
    const later = retryAfter ? ` Try again in ${retryAfter} s.` : " Try again in a moment.";
    if (status === 401) {
      if (usedKey) return "The staff key was not accepted. Check it and try again.";
      return loginCookie
        ? "Enter a staff key, or sign in to the site with a staff account first."
        : "Enter a staff key.";
    }
    if (status === 400) return "That is not a Zendesk Chat visitor ID (letters, digits, dots, dashes and underscores).";
    if (status === 404) return "Zendesk Chat has no visitor with this ID.";
    if (code === "lookup_not_configured") return "This gateway has no Zendesk Chat API configured (zendesk_chat_api).";
    if (code === "vendor_auth_failed") return "Zendesk refused the gateway's API token: ask an administrator to check zendesk_chat_api.token.";
    if (code === "vendor_rate_limited") return "Zendesk is rate-limiting lookups." + later;
    if (code === "vendor_circuit_open") return "Zendesk has been failing, so the gateway is pausing its calls." + later;
    if (status === 429) return "Too many lookups." + later;
    if (status === 502) return "Zendesk gave an answer the gateway cannot use." + later;
    if (status === 503) return "Zendesk is unavailable right now." + later;
    if (status === 504) return "Zendesk did not answer in time." + later;
    return "The lookup failed.";
  }

  function showError(status, code, description, retryAfter, usedKey) {
    show("failed", [
      el("p", { class: "error", id: "error", "data-status": String(status || ""), "data-code": code,
        text: explain(status, code, retryAfter, usedKey) }),
      el("p", { class: "hint", text: status ? `${status} ${code}: ${description}` : `${code}: ${description}` }),
    ]);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const visitor = document.getElementById("visitor").value.trim();
    const key = keyField.value.trim();
    const headers = { Accept: "application/json" };
    if (key) headers.Authorization = "Bearer " + key;
    const button = document.getElementById("lookup-button");
    button.disabled = true;
    try {
      let response;
      try {
        response = await fetch("/v1/visitors/" + encodeURIComponent(visitor), {
          headers: headers,
          credentials: "same-origin",
          cache: "no-store",
        });
      } catch (err) {
        showError(0, "network_error", "The gateway could not be reached", null, Boolean(key));
        return;
      }
      const data = await response.json().catch(() => null);
      if (response.ok && data && data.visitor) {
        showVisitor(data);
      } else {
        const code = data && data.code ? data.code : "http_" + response.status;
        const description = data && data.description ? data.description : response.statusText;
        showError(response.status, code, description, response.headers.get("Retry-After"), Boolean(key));
      }
    } finally {
      button.disabled = false;
    }
  });

  const tools = document.getElementById("tools");
  const STATUS_TEXT = {
    found: "found",
    not_found: "not found",
    skipped: "skipped",
    error: "error",
  };

  /** A link into the tool, only for http(s) addresses the gateway gave. */
  function link(url) {
    try {
      const parsed = new URL(url);
      if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return null;
      return el("a", { href: parsed.href, target: "_blank", rel: "noopener noreferrer",
        class: "open", text: "Open in the tool" });
    } catch (err) {
      return null;
    }
  }

  function toolCard(name, member) {
    const state = member.status === "found" ? "ok" : member.status === "error" ? "error" : "none";
    const how = member.matched_by === "email"
      ? (member.email_from ? `by email (from ${member.email_from})` : "by email")
      : member.matched_by === "visitor_id" ? "by visitor ID" : "by login user ID";
    const header = el("header", {}, [
      el("h3", { text: name }),
      el("span", { class: "badge muted", text: member.type }),
      el("span", { class: "badge muted", text: how }),
      member.source ? el("span", { class: "badge source", text: member.source }) : "",
      el("span", { class: "verdict", text: STATUS_TEXT[member.status] || member.status }),
    ]);
    const body = [];
    if (member.status === "error") {
      body.push(el("p", { class: "error", text: explainTool(member.code) + ` (${member.code})` }));
    } else if (member.status === "skipped" && member.reason === "not_searchable") {
      body.push(el("p", { class: "hint", text: "This tool finds people by its own visitor ID only: look the visitor up above." }));
    } else if (member.status === "skipped") {
      body.push(el("p", { class: "hint", text: "This tool is looked up by email, and no email was given or found." }));
    } else if (member.status === "not_found") {
      body.push(el("p", { class: "hint", text: "This tool has no record of this person." }));
    }
    for (const record of member.records) {
      const rows = [["ID", text(record.id)], ["Name", text(record.name)], ["Email", text(record.email)],
        ["external_id", text(record.external_id)]];
      const open = record.url ? link(record.url) : null;
      body.push(el("dl", { class: "facts" }, rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })])));
      if (open) body.push(open);
    }
    return el("article", { class: "target tool", "data-lookup": name, "data-state": state,
      "data-status": member.status, "data-code": member.code || "" }, [header, ...body]);
  }

  function explainTool(code) {
    if (code === "vendor_auth_failed") return "The tool refused the gateway's API credentials: ask an administrator to check this lookup's settings.";
    if (code === "vendor_timeout") return "The tool did not answer in time.";
    if (code === "vendor_rate_limited") return "The tool is rate-limiting lookups.";
    if (code === "vendor_circuit_open") return "The tool has been failing, so the gateway is pausing its calls.";
    if (code === "vendor_unavailable") return "The tool is unavailable right now.";
    return "The tool gave an answer the gateway cannot use.";
  }

  function showTools(data) {
    const names = Object.keys(data.lookups);
    const found = names.filter((n) => data.lookups[n].status === "found").length;
    tools.hidden = false;
    tools.className = "card result found";
    tools.replaceChildren(
      el("header", {}, [
        el("h2", { id: "tools-summary", text: `Found in ${found} of ${names.length} tools` }),
        data.email ? el("span", { class: "badge muted", id: "tools-email", text: data.email }) : "",
      ]),
      names.length
        ? el("div", { class: "targets" }, names.map((n) => toolCard(n, data.lookups[n])))
        : el("p", { class: "hint", text: "This gateway has no support-tool lookups configured (lookups)." }),
    );
  }

  function showToolsError(status, code, description) {
    tools.hidden = false;
    tools.className = "card result failed";
    const what = status === 401 ? explain(401, code, null, Boolean(keyField.value.trim()))
      : status === 400 ? "That is not a login user ID or an email the gateway accepts."
      : status === 429 ? "Too many lookups. Try again in a moment." : "The lookup failed.";
    tools.replaceChildren(
      el("p", { class: "error", id: "tools-error", "data-status": String(status || ""), "data-code": code, text: what }),
      el("p", { class: "hint", text: `${status || ""} ${code}: ${description}`.trim() }),
    );
  }

  document.getElementById("tools-lookup").addEventListener("submit", async (event) => {
    event.preventDefault();
    const user = document.getElementById("login-user").value.trim();
    const email = document.getElementById("login-email").value.trim();
    const key = keyField.value.trim();
    const headers = { Accept: "application/json" };
    if (key) headers.Authorization = "Bearer " + key;
    const button = document.getElementById("tools-button");
    button.disabled = true;
    try {
      let url = "/v1/login-users/" + encodeURIComponent(user);
      if (email) url += "?email=" + encodeURIComponent(email);
      let response;
      try {
        response = await fetch(url, { headers: headers, credentials: "same-origin", cache: "no-store" });
      } catch (err) {
        showToolsError(0, "network_error", "The gateway could not be reached");
        return;
      }
      const data = await response.json().catch(() => null);
      if (response.ok && data && data.lookups) {
        showTools(data);
      } else {
        showToolsError(response.status, data && data.code ? data.code : "http_" + response.status,
          data && data.description ? data.description : response.statusText);
      }
    } finally {
      button.disabled = false;
    }
  });

  document.getElementById("forget-button").addEventListener("click", () => {
    keyField.value = "";
    keyField.focus();
  });
})();
