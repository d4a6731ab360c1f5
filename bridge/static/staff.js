/*
 * The staff page: look a Zendesk Chat visitor up through GET /v1/visitors/{id}.
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

  document.getElementById("forget-button").addEventListener("click", () => {
    keyField.value = "";
    keyField.focus();
  });
})();
