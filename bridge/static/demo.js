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

  const VENDOR = {
    zendesk_chat: "Zendesk Chat",
    zendesk_messaging: "Zendesk Messaging",
    freshdesk: "Freshdesk",
    zipchat: "Zipchat",
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

  function showToken(node, target, minted) {
    const { header, payload } = Bridge.decodeJwt(minted.token);
    const now = Math.floor(Date.now() / 1000);
    const rules = (RULES[target.type] || []).map(([text, check]) => {
      let ok = false;
      try {
        ok = Boolean(check(header, payload, now));
      } catch (ignored) {
        ok = false;
      }
      return el("li", { class: ok ? "pass" : "fail", text: text });
    });
    const allPass = rules.every((li) => li.className === "pass");
    node.dataset.state = allPass ? "ok" : "rule-failed";
    node.querySelector(".verdict").textContent = allPass ? "✓ meets the vendor's rules" : "✗ breaks a rule";
    const expires = minted.expiresAt ? `expires ${clock(minted.expiresAt)} (in ${minted.expiresAt - now} s)` : "";
    node.append(
      el("div", { class: "columns" }, [
        el("div", {}, [
          el("h4", { text: "Header" }),
          el("pre", { class: "jwt-header", text: JSON.stringify(header, null, 2) }),
          el("h4", { text: "Vendor rules" }),
          el("ul", { class: "rules" }, rules),
        ]),
        el("div", {}, [
          el("h4", { text: "Claims" }),
          el("pre", { class: "jwt-claims", text: JSON.stringify(payload, null, 2) }),
          el("p", { class: "hint", text: expires }),
        ]),
      ])
    );
  }

  /** What to do about the gateway's answer, for the codes a demo user runs into. */
  const ADVICE = {
    "00-00": "No login cookie: sign in above.",
    "00-01": "The login cookie is invalid or expired: sign in again.",
    "00-02": "The login token has no sub.",
    "00-03": "This vendor needs an email, and the signed-in user has none.",
    network_error: "The gateway could not be reached.",
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
