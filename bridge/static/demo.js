/*
 * The demo page: sign in as a development user, then fetch, decode and check a token for each
 * configured target. Uses bridge.js exactly as a site would (same origin here).
 */
(function () {
  "use strict";

  const bridge = Bridge.connect({ gateway: "" });
  const targets = JSON.parse(document.getElementById("bridge-targets").textContent);

  const isSeconds = (v) => Number.isInteger(v) && v > 1e9 && v < 1e11; // not milliseconds
  const present = (v) => typeof v === "string" && v.length > 0;
  const SKEW = 60; // seconds of clock difference tolerated between this browser and the gateway

  /** The vendor rules each target's token must satisfy: [text, check(header, claims, now)]. */
  const RULES = {
    zendesk_chat: [
      ["HS256 with typ JWT", (h) => h.alg === "HS256" && h.typ === "JWT"],
      ["name, email, external_id and iat present",
        (h, c) => present(c.name) && present(c.email) && present(c.external_id) && "iat" in c],
      ["iat in seconds, within 2 minutes of now",
        (h, c, now) => isSeconds(c.iat) && Math.abs(c.iat - now) <= 120 + SKEW],
      ["exp at most 7 minutes after iat",
        (h, c) => isSeconds(c.exp) && c.exp > c.iat && c.exp - c.iat <= 420],
    ],
    zendesk_messaging: [
      ["HS256 with kid (the signing key ID) and typ JWT",
        (h) => h.alg === "HS256" && present(h.kid) && h.typ === "JWT"],
      ['scope is "user"', (h, c) => c.scope === "user"],
      ["external_id present, at most 255 characters",
        (h, c) => present(c.external_id) && c.external_id.length <= 255],
      ["exp in seconds, in the future", (h, c, now) => isSeconds(c.exp) && c.exp > now - SKEW],
      ["email_verified only ever true", (h, c) => !("email_verified" in c) || c.email_verified === true],
    ],
    freshdesk: [
      ["HS256", (h) => h.alg === "HS256"],
      ["name and email present", (h, c) => present(c.name) && present(c.email)],
      ["exp in seconds, at most 2 hours ahead",
        (h, c, now) => isSeconds(c.exp) && c.exp > now - SKEW && c.exp - now <= 7200 + SKEW],
    ],
    zipchat: [
      ["RS256 with kid", (h) => h.alg === "RS256" && present(h.kid)],
      ["email present", (h, c) => present(c.email)],
      ["iat and exp in seconds, at most 1 hour apart",
        (h, c) => isSeconds(c.iat) && isSeconds(c.exp) && c.exp > c.iat && c.exp - c.iat <= 3600],
      ["additional_attributes, when present, is an object",
        (h, c) => !("additional_attributes" in c) ||
          (typeof c.additional_attributes === "object" && !Array.isArray(c.additional_attributes) &&
            c.additional_attributes !== null)],
    ],
  };

  RULES.intercom = [
    ["HS256 with typ JWT", (h) => h.alg === "HS256" && h.typ === "JWT"],
    ["user_id present (Intercom refuses a token without it)", (h, c) => present(c.user_id)],
    ["exp in seconds, in the future, at most a day ahead",
      (h, c, now) => isSeconds(c.exp) && c.exp > now - SKEW && c.exp - now <= 86400 + SKEW],
  ];

  /** The rules of the credentials that are not JWTs: [text, check(minted, now)]. */
  const PLAIN_RULES = {
    hmac_identity: [
      ["64 lowercase hex digits (HMAC-SHA256)", (m) => /^[0-9a-f]{64}$/.test(m.token)],
      ["the signed identifier comes with it", (m) => present(m.identifier)],
      ["never expires (expires_at is null): keep it out of caches and logs",
        (m) => m.expiresAt === null],
    ],
    hubspot: [
      ["a token issued by HubSpot", (m) => present(m.token)],
      ["the email it identifies comes with it", (m) => present(m.email)],
      ["reused at most until HubSpot's 12 hours end",
        (m, now) => isSeconds(m.expiresAt) && m.expiresAt > now - SKEW && m.expiresAt - now <= 43200],
    ],
  };

  const VENDOR = {
    zendesk_chat: "Zendesk Chat",
    zendesk_messaging: "Zendesk Messaging",
    freshdesk: "Freshdesk",
    zipchat: "Zipchat",
    intercom: "Intercom",
    hmac_identity: "HMAC identity",
    hubspot: "HubSpot",
    zendesk_sso: "Zendesk help center SSO",
  };

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    }
    for (const child of children || []) node.append(child);
    return node;
  }

  function clock(epoch) {
    return new Date(epoch * 1000).toLocaleTimeString([], {
      hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
    });
  }

  function card(target) {
    return el("article", { class: "target", "data-target": target.name, "data-state": "loading" }, [
      el("header", {}, [
        el("h3", { text: target.name }),
        el("span", { class: "badge", text: VENDOR[target.type] || target.type }),
        target.default ? el("span", { class: "badge muted", text: "default" }) : "",
        el("span", { class: "verdict", text: "…" }),
      ]),
    ]);
  }

  function checked(list, args) {
    return list.map(([text, check]) => {
      let ok = false;
      try {
        ok = Boolean(check(...args));
      } catch (ignored) {
        ok = false;
      }
      return el("li", { class: ok ? "pass" : "fail", text: text });
    });
  }

  function verdict(node, rules) {
    const allPass = rules.every((li) => li.className === "pass");
    node.dataset.state = allPass ? "ok" : "rule-failed";
    node.querySelector(".verdict").textContent = allPass ? "✓ meets the vendor's rules" : "✗ breaks a rule";
  }

  /** A credential that is not a JWT: an HMAC signature or HubSpot's token. */
  function showPlain(node, target, minted, now) {
    const rules = checked(PLAIN_RULES[target.type], [minted, now]);
    verdict(node, rules);
    const shown = { token: minted.token, expires_at: minted.expiresAt };
    if ("identifier" in minted) shown.identifier = minted.identifier;
    if ("email" in minted) shown.email = minted.email;
    const reuse = minted.expiresAt ? `reused until ${clock(minted.expiresAt)}` : "no expiry";
    node.append(columns([], rules, "Answer", shown, reuse));
  }

  // the rules on the left (after `left`), what was minted on the right
  function columns(left, rules, title, shown, hint) {
    return el("div", { class: "columns" }, [
      el("div", {}, left.concat([el("h4", { text: "Vendor rules" }), el("ul", { class: "rules" }, rules)])),
      el("div", {}, [
        el("h4", { text: title }),
        el("pre", { class: "jwt-claims", text: JSON.stringify(shown, null, 2) }),
        el("p", { class: "hint", text: hint }),
      ]),
    ]);
  }

  function showToken(node, target, minted) {
    const now = Math.floor(Date.now() / 1000);
    if (PLAIN_RULES[target.type]) return showPlain(node, target, minted, now);
    const { header, payload } = Bridge.decodeJwt(minted.token);
    const rules = checked(RULES[target.type] || [], [header, payload, now]);
    verdict(node, rules);
    const expires = minted.expiresAt ? `expires ${clock(minted.expiresAt)} (in ${minted.expiresAt - now} s)` : "";
    const shownHeader = [
      el("h4", { text: "Header" }),
      el("pre", { class: "jwt-header", text: JSON.stringify(header, null, 2) }),
    ];
    node.append(columns(shownHeader, rules, "Claims", payload, expires));
  }

  /** What to do about the gateway's answer, for the codes a demo user runs into. */
  const ADVICE = {
    "00-00": "No login cookie: sign in above.",
    "00-01": "The login cookie is invalid or expired: sign in again.",
    "00-02": "The login token has no sub.",
    "00-03": "This vendor needs an email, and the signed-in user has none.",
    network_error: "The gateway could not be reached.",
    vendor_auth_failed: "The vendor refused the gateway's API token: check the target's access_token.",
    vendor_unavailable: "The vendor's API is unavailable: try again shortly.",
    vendor_timeout: "The vendor's API did not answer in time.",
  };

  function showError(node, err) {
    node.dataset.state = "error";
    node.dataset.code = err.code || "";
    node.querySelector(".verdict").textContent = "no token";
    node.append(el("p", { class: "error", text: err.message }));
    if (ADVICE[err.code]) node.append(el("p", { class: "hint advice", text: ADVICE[err.code] }));
  }

  /** A help center sign-in has no token to show: its token only ever goes to Zendesk. */
  function showSso(node, target) {
    node.dataset.state = "sso";
    node.querySelector(".verdict").textContent = "signs in with a form POST";
    node.append(
      el("p", { class: "hint", text: "The token goes straight to the help center's /access/jwt " +
        "in a form the gateway's page submits; it never reaches this page or a URL." }),
      el("p", {}, [
        el("a", { class: "button sso-link", href: "/v1/sso/" + encodeURIComponent(target.name),
          text: "Sign in to the help center" }),
      ])
    );
  }

  async function fetchAll() {
    const list = document.getElementById("targets");
    list.replaceChildren();
    const results = await Promise.all(
      targets.map(async (target) => {
        const node = card(target);
        list.append(node);
        if (target.type === "zendesk_sso") {
          showSso(node, target);
          return "sso";
        }
        try {
          showToken(node, target, await bridge.token(target.name));
          return "ok";
        } catch (err) {
          showError(node, err);
          return err.code;
        }
      })
    );
    return results;
  }

  const status = document.getElementById("signin-status");

  function say(text, kind) {
    status.textContent = text;
    status.className = "status " + (kind || "");
  }

  async function post(path, body) {
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body || {}),
    });
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const code = data && data.code ? data.code : "http_" + response.status;
      const description = data && data.description ? data.description : "error";
      throw new Bridge.BridgeError(code, description, response.status);
    }
    return data;
  }

  document.getElementById("signin").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    try {
      const user = await post("/demo/login", {
        sub: form.get("sub").trim(),
        email: form.get("email").trim(),
        name: form.get("name").trim(),
        login: form.get("login"),
      });
      const who = user.name ? `${user.name} (${user.sub})` : user.sub;
      say(`Signed in as ${who}; the login cookie expires at ${clock(user.expires_at)}.`, "ok");
    } catch (err) {
      say(`Sign-in failed: ${err.message}`, "bad");
    }
    await fetchAll();
  });

  document.getElementById("signout-button").addEventListener("click", async () => {
    try {
      await post("/demo/logout");
      say("Signed out: the login cookie is gone, so the gateway answers 401 00-00.", "");
    } catch (err) {
      say(`Sign-out failed: ${err.message}`, "bad");
    }
    await fetchAll();
  });

  document.getElementById("fetch-button").addEventListener("click", fetchAll);

  fetchAll().then((results) => {
    if (results.includes("ok")) say("Signed in (a login cookie from an earlier visit).", "ok");
    else if (results.includes("00-00")) say("Not signed in yet: sign in above.", "");
  });
})();
