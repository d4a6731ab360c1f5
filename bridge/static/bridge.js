/*
 * bridge.js: the bridge gateway's browser client. No build step, no dependencies.
 *
 *   <script src="https://bridge.example.com/static/bridge.js"></script>
 *   <script>
 *     const bridge = Bridge.connect({ gateway: "https://bridge.example.com" });
 *     bridge.zendeskChat({ target: "zendesk-chat", accountKey: "YOUR_ACCOUNT_KEY" });
 *   </script>
 *
 * Every helper fetches a freshly signed token from the gateway each time the widget asks,
 * with credentials: "include", so the browser sends the login cookie. The page's origin must
 * be listed in the gateway's cors.origins. Gateway errors (401 00-00 no login cookie, 401 00-01
 * invalid or expired, 422 00-02 / 00-03 missing sub / email, ...) and network or CORS failures
 * become Bridge.BridgeError objects with code, description and status.
 *
 *   bridge.token(target)                        -> Promise<{token, target, expiresAt}>
 *   bridge.zendeskChat({target, accountKey})    Chat Web SDK: zChat.init({account_key,
 *                                                 authentication: {jwt_fn}})
 *   bridge.webWidgetClassic({target})           zESettings.webWidget.authenticate.chat.jwtFn
 *   bridge.zendeskMessaging({target})           zE("messenger", "loginUser", jwtCallback,
 *                                                 loginCallback) -> Promise (rejects with the
 *                                                 login callback's error)
 *   bridge.freshdesk({target})                  FreshworksWidget("authenticate", {token,
 *                                                 callback}), renewed before expiry
 *   bridge.zipchat({target})                    Zipchat.identify(jwt) once ready to identify
 *   bridge.intercom({target, appId})            Intercom("boot", {app_id, intercom_user_jwt}),
 *                                                 renewed with Intercom("update") before exp;
 *                                                 an hmac_identity target boots with user_hash
 *   bridge.hubspot({target})                    hsConversationsSettings {identificationEmail,
 *                                                 identificationToken}, then widget.load()
 *   bridge.crisp({target})                      $crisp.push(["set", "user:email",
 *                                                 [email, signature]])
 *   bridge.helpScout({target, name})            Beacon("identify", {name, email, signature})
 *   bridge.frontChat({target, chatId})          FrontChat("init", {chatId, email, userHash})
 *
 * Each helper returns a handle whose logout() signs the visitor out of the widget.
 */
(function (root) {
  "use strict";

  const DEFAULT_TARGETS = {
    zendeskChat: "zendesk-chat",
    webWidgetClassic: "zendesk-chat",
    zendeskMessaging: "zendesk-messaging",
    freshdesk: "freshdesk",
    zipchat: "zipchat",
    intercom: "intercom",
    hubspot: "hubspot",
    crisp: "crisp",
    helpScout: "helpscout",
    frontChat: "front",
  };

  /** An error from the gateway, the network or a widget, readable by the page's code. */
  class BridgeError extends Error {
    constructor(code, description, status, details) {
      super((status ? status + " " : "") + code + ": " + description);
      this.name = "BridgeError";
      /** the gateway's code ("00-00", "target_not_found", ...) or one of this client's own:
       *  network_error, timeout, bad_response, widget_missing, bad_option, login_failed */
      this.code = code;
      this.description = description;
      /** the HTTP status when the gateway answered, else null */
      this.status = status || null;
      /** extra facts (the widget's own error, for login_failed) */
      this.details = details || null;
    }
  }

  function base64UrlDecode(segment) {
    let text = segment.replace(/-/g, "+").replace(/_/g, "/");
    while (text.length % 4) text += "=";
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  }

  /** The header and payload of a JWT, NOT verified: for display and debugging only. */
  function decodeJwt(token) {
    const parts = typeof token === "string" ? token.split(".") : [];
    if (parts.length !== 3) {
      throw new BridgeError("malformed_token", "Not a compact JWT (three dot-separated parts)");
    }
    try {
      return {
        header: JSON.parse(base64UrlDecode(parts[0])),
        payload: JSON.parse(base64UrlDecode(parts[1])),
      };
    } catch (err) {
      throw new BridgeError("malformed_token", "The JWT's header or payload is not JSON");
    }
  }

  function widget(name, given, what) {
    const found = given || root[name];
    if (!found) {
      throw new BridgeError(
        "widget_missing",
        what + " (window." + name + ") is not on the page; load the vendor's snippet first"
      );
    }
    return found;
  }

  /**
   * A client for one gateway.
   *   gateway    the gateway's origin, e.g. "https://bridge.example.com"; "" = this page's own
   *   timeoutMs  per token request (default 10000)
   *   onError    called with a BridgeError when a token the widget asked for later cannot be
   *              had (the widget itself has no error channel); default: console.error
   */
  function connect(options) {
    options = options || {};
    const gateway = String(options.gateway || "").replace(/\/+$/, "");
    const timeoutMs = options.timeoutMs || 10000;
    const onError =
      options.onError ||
      function (err) {
        console.error("bridge:", err.message);
      };

    function report(err) {
      try {
        onError(err);
      } catch (ignored) {
        /* the page's handler must not break the widget's flow */
      }
    }

    /** A freshly signed token for `target` (a name from the gateway's config). */
    async function token(target) {
      if (typeof target !== "string" || !target) {
        throw new BridgeError("bad_option", "A target name is required");
      }
      const url = gateway + "/v1/targets/" + encodeURIComponent(target) + "/token";
      const controller = new AbortController();
      const timer = setTimeout(function () {
        controller.abort();
      }, timeoutMs);
      try {
        let response;
        try {
          response = await fetch(url, {
            method: "GET",
            credentials: "include",
            cache: "no-store",
            headers: { Accept: "application/json" },
            signal: controller.signal,
          });
        } catch (err) {
          if (controller.signal.aborted) {
            throw new BridgeError("timeout", "The gateway did not answer within " + timeoutMs + " ms");
          }
          // a network failure and a CORS refusal look the same to a page, on purpose
          throw new BridgeError(
            "network_error",
            "The gateway could not be reached at " + (gateway || "this origin") +
              ", or it does not list this page's origin in cors.origins"
          );
        }
        let body = null;
        try {
          body = await response.json();
        } catch (ignored) {
          body = null;
        }
        if (!response.ok) {
          if (body && typeof body.code === "string") {
            throw new BridgeError(body.code, String(body.description || ""), response.status);
          }
          throw new BridgeError("http_" + response.status, "The gateway answered with an error", response.status);
        }
        if (!body || typeof body.token !== "string") {
          throw new BridgeError("bad_response", "The gateway's answer holds no token", response.status);
        }
        const minted = {
          token: body.token,
          target: body.target || target,
          expiresAt: typeof body.expires_at === "number" ? body.expires_at : null,
        };
        // what an HMAC signature was computed over, and whom HubSpot's token identifies
        if (typeof body.identifier === "string") minted.identifier = body.identifier;
        if (typeof body.email === "string") minted.email = body.email;
        return minted;
      } finally {
        clearTimeout(timer);
      }
    }

    /** A widget-style `fn(callback)` that calls back with a fresh token on every call. */
    function jwtFn(target) {
      return function (callback) {
        token(target).then(function (minted) {
          callback(minted.token);
        }, report);
      };
    }

    /** Zendesk Chat Web SDK. `init` adds other zChat.init options. */
    function zendeskChat(opts) {
      opts = opts || {};
      const zChat = widget("zChat", opts.zChat, "The Zendesk Chat Web SDK");
      if (!opts.accountKey) throw new BridgeError("bad_option", "accountKey is required");
      const target = opts.target || DEFAULT_TARGETS.zendeskChat;
      const init = Object.assign({}, opts.init, {
        account_key: opts.accountKey,
        authentication: { jwt_fn: jwtFn(target) },
      });
      zChat.init(init);
      return {
        logout: function () {
          zChat.logoutForAll();
        },
      };
    }

    /** Zendesk Web Widget (Classic) chat authentication. Call before the widget's snippet. */
    function webWidgetClassic(opts) {
      opts = opts || {};
      const target = opts.target || DEFAULT_TARGETS.webWidgetClassic;
      const settings = (root.zESettings = root.zESettings || {});
      settings.webWidget = settings.webWidget || {};
      settings.webWidget.authenticate = settings.webWidget.authenticate || {};
      settings.webWidget.authenticate.chat = Object.assign({}, settings.webWidget.authenticate.chat, {
        jwtFn: jwtFn(target),
      });
      return {
        logout: function () {
          widget("zE", opts.zE, "The Zendesk Web Widget")("webWidget", "logout");
        },
      };
    }

    /**
     * Zendesk Messaging. Resolves with the handle once Zendesk reports the login; rejects with
     * a BridgeError: the gateway's (no login cookie, ...) or code "login_failed" carrying
     * Zendesk's LoginFailedError in `details`, with `details.conflict` true for a 409 (the
     * external_id is taken by another user with that email), whose message says so.
     */
    function zendeskMessaging(opts) {
      opts = opts || {};
      const target = opts.target || DEFAULT_TARGETS.zendeskMessaging;
      const zE = widget("zE", opts.zE, "The Zendesk Messaging Web Widget");
      const handle = {
        logout: function () {
          zE("messenger", "logoutUser");
        },
      };
      return new Promise(function (resolve, reject) {
        let settled = false;
        function fail(err) {
          if (settled) return report(err);
          settled = true;
          reject(err);
        }
        // Zendesk calls jwtCallback at login and again whenever the session needs a new token
        zE(
          "messenger",
          "loginUser",
          function jwtCallback(callback) {
            token(target).then(function (minted) {
              callback(minted.token);
            }, fail);
          },
          function loginCallback(error) {
            if (error) {
              const said = error.message || error.reason || String(error);
              // 409: another Zendesk user with this email already has a different external_id
              const conflict =
                error.status === 409 ||
                /\b409\b|conflict/i.test(String(error.reason || "") + " " + String(error.message || ""));
              const text = conflict
                ? "Zendesk Messaging refused the login: another Zendesk user with this email " +
                  "already has a different external_id (409 conflict); the Zendesk admin must " +
                  "merge or correct that user. Zendesk said: " + said
                : "Zendesk Messaging refused the login: " + said;
              fail(
                new BridgeError("login_failed", text, null, {
                  message: error.message || null,
                  reason: error.reason || null,
                  type: error.type || null,
                  conflict: conflict,
                })
              );
            } else if (!settled) {
              settled = true;
              resolve(handle);
            }
          }
        );
      });
    }

    /**
     * Calls `renew` `renewBeforeSeconds` (default 60) before a token's `expiresAt`, at most once
     * per `minRenewSeconds` (default 30), until stopped.
     */
    function renewal(opts, renew) {
      const renewBefore = opts.renewBeforeSeconds == null ? 60 : opts.renewBeforeSeconds;
      const minRenew = opts.minRenewSeconds == null ? 30 : opts.minRenewSeconds;
      let timer = null;
      const renewing = {
        stopped: false,
        schedule: function (expiresAt) {
          clearTimeout(timer);
          if (renewing.stopped || !expiresAt) return;
          const delay = Math.max(minRenew * 1000, (expiresAt - renewBefore) * 1000 - Date.now());
          timer = setTimeout(renew, Math.min(delay, 0x7fffffff));
        },
        stop: function () {
          renewing.stopped = true;
          clearTimeout(timer);
        },
      };
      return renewing;
    }

    /**
     * Freshdesk help widget. Authenticates, hands Freshdesk a callback that renews the token
     * (Freshdesk calls it when the token expires) and renews it itself `renewBeforeSeconds`
     * (default 60) before `exp`, at most once per `minRenewSeconds` (default 30).
     * Resolves with the handle after the first authenticate.
     */
    async function freshdesk(opts) {
      opts = opts || {};
      const target = opts.target || DEFAULT_TARGETS.freshdesk;
      const FreshworksWidget = widget("FreshworksWidget", opts.FreshworksWidget, "The Freshdesk help widget");
      const renewing = renewal(opts, renew);

      async function authenticate() {
        const minted = await token(target);
        if (renewing.stopped) return minted;
        FreshworksWidget("authenticate", { token: minted.token, callback: renew });
        renewing.schedule(minted.expiresAt);
        return minted;
      }

      function renew() {
        authenticate().catch(report);
      }

      await authenticate();
      return {
        renew: authenticate,
        logout: function () {
          renewing.stop();
          FreshworksWidget("logout");
        },
      };
    }

    /**
     * Zipchat. Identifies once the widget is ready (the `zipchat:ready-to-identify` event, or
     * Zipchat.isReadyToIdentify() already true) and again on every later such event (a new
     * conversation).
     * Resolves with the handle after the first identify; stop() stops listening.
     */
    function zipchat(opts) {
      opts = opts || {};
      const target = opts.target || DEFAULT_TARGETS.zipchat;
      let inFlight = null;
      let settled = false;
      let settle = null;
      const first = new Promise(function (resolve, reject) {
        settle = { resolve: resolve, reject: reject };
      });
      const handle = {
        stop: function () {
          root.removeEventListener("zipchat:ready-to-identify", identify);
        },
      };

      // events that arrive while a token is on its way are coalesced into one more identify
      let again = false;
      function identify() {
        if (inFlight) {
          again = true;
          return inFlight;
        }
        inFlight = token(target)
          .then(function (minted) {
            widget("Zipchat", opts.Zipchat, "The Zipchat widget").identify(minted.token);
            if (!settled) {
              settled = true;
              settle.resolve(handle);
            }
          })
          .catch(function (err) {
            if (settled) return report(err);
            settled = true;
            settle.reject(err);
          })
          .then(function () {
            inFlight = null;
            if (again) {
              again = false;
              identify();
            }
          });
        return inFlight;
      }

      root.addEventListener("zipchat:ready-to-identify", identify);
      const z = opts.Zipchat || root.Zipchat;
      if (z && typeof z.isReadyToIdentify === "function" && z.isReadyToIdentify()) identify();
      return first;
    }

    /** The signed value and its signature, from an hmac_identity target. */
    async function signature(target) {
      const minted = await token(target);
      if (typeof minted.identifier !== "string") {
        throw new BridgeError("bad_response", "Target " + target + " is not an hmac_identity target");
      }
      return minted;
    }

    /**
     * Intercom Messenger. With an `intercom` target: boots with `intercom_user_jwt` and hands
     * Intercom a new JWT (Intercom("update", ...)) `renewBeforeSeconds` (default 60) before
     * `exp`, at most once per `minRenewSeconds` (default 30). With an `hmac_identity` target
     * (vendor intercom_legacy): boots with `user_id` (or `email`, with identifiedBy: "email")
     * and `user_hash`. `boot` adds other boot settings. Resolves with the handle after boot.
     */
    async function intercom(opts) {
      opts = opts || {};
      const target = opts.target || DEFAULT_TARGETS.intercom;
      // looked up at each call, not kept: Intercom's script replaces the loader's stub with
      // the Messenger when it arrives, and a call made on the old stub after that is lost
      function Intercom() {
        const messenger = widget("Intercom", opts.Intercom, "The Intercom Messenger");
        return messenger.apply(null, arguments);
      }
      widget("Intercom", opts.Intercom, "The Intercom Messenger");
      if (!opts.appId) throw new BridgeError("bad_option", "bridge.intercom needs appId");
      const renewing = renewal(opts, renew);

      async function renew() {
        try {
          const minted = await token(target);
          if (renewing.stopped) return;
          Intercom("update", { intercom_user_jwt: minted.token });
          renewing.schedule(minted.expiresAt);
        } catch (err) {
          report(err);
        }
      }

      const minted = await token(target);
      const settings = Object.assign({}, opts.boot || {}, { app_id: opts.appId });
      if (typeof minted.identifier === "string") {
        settings[opts.identifiedBy === "email" ? "email" : "user_id"] = minted.identifier;
        settings.user_hash = minted.token;
      } else {
        settings.intercom_user_jwt = minted.token;
      }
      Intercom("boot", settings);
      renewing.schedule(minted.expiresAt);
      return {
        renew: renew,
        logout: function () {
          renewing.stop();
          Intercom("shutdown");
        },
      };
    }

    /**
     * HubSpot chat. Sets window.hsConversationsSettings.identificationEmail and
     * identificationToken (keeping the page's other settings), then loads the widget, or
     * refreshes it when it is already loaded. HubSpot's script reads the settings when it
     * starts: set `loadImmediately: false` in them so the widget waits for this call. When
     * the script has not started yet, the load waits for hsConversationsOnReady.
     * Resolves with the handle once the settings are in place.
     */
    async function hubspot(opts) {
      opts = opts || {};
      const target = opts.target || DEFAULT_TARGETS.hubspot;
      const minted = await token(target);
      const settings = (root.hsConversationsSettings = root.hsConversationsSettings || {});
      settings.identificationEmail = minted.email;
      settings.identificationToken = minted.token;

      function load() {
        const conversations = opts.HubSpotConversations || root.HubSpotConversations;
        const status = conversations.widget.status ? conversations.widget.status() : null;
        if (status && status.loaded) conversations.widget.refresh();
        else conversations.widget.load();
      }

      if (opts.HubSpotConversations || root.HubSpotConversations) load();
      else (root.hsConversationsOnReady = root.hsConversationsOnReady || []).push(load);
      return {
        email: minted.email,
        expiresAt: minted.expiresAt,
        logout: function () {
          delete settings.identificationEmail;
          delete settings.identificationToken;
          const conversations = opts.HubSpotConversations || root.HubSpotConversations;
          if (conversations) conversations.clear({ resetWidget: true });
        },
      };
    }

    /** Crisp chatbox: the verified email, with its signature. Works before Crisp loads. */
    async function crisp(opts) {
      opts = opts || {};
      const minted = await signature(opts.target || DEFAULT_TARGETS.crisp);
      const queue = opts.$crisp || (root.$crisp = root.$crisp || []);
      queue.push(["set", "user:email", [minted.identifier, minted.token]]);
      return {
        logout: function () {
          queue.push(["do", "session:reset"]);
        },
      };
    }

    /** Help Scout Beacon in secure mode: identify with the email and its signature. */
    async function helpScout(opts) {
      opts = opts || {};
      const Beacon = widget("Beacon", opts.Beacon, "Help Scout's Beacon");
      const minted = await signature(opts.target || DEFAULT_TARGETS.helpScout);
      const identity = { email: minted.identifier, signature: minted.token };
      if (opts.name) identity.name = opts.name;
      Beacon("identify", identity);
      return {
        logout: function () {
          Beacon("logout", { endActiveChat: true });
        },
      };
    }

    /** Front Chat: init with the verified email and its user hash. `init` adds options. */
    async function frontChat(opts) {
      opts = opts || {};
      const FrontChat = widget("FrontChat", opts.FrontChat, "Front Chat");
      if (!opts.chatId) throw new BridgeError("bad_option", "bridge.frontChat needs chatId");
      const minted = await signature(opts.target || DEFAULT_TARGETS.frontChat);
      const settings = Object.assign({ useDefaultLauncher: true }, opts.init || {}, {
        chatId: opts.chatId,
        email: minted.identifier,
        userHash: minted.token,
      });
      FrontChat("init", settings);
      return {
        logout: function () {
          FrontChat("shutdown", { clearSession: true });
        },
      };
    }

    return {
      gateway: gateway,
      token: token,
      zendeskChat: zendeskChat,
      webWidgetClassic: webWidgetClassic,
      zendeskMessaging: zendeskMessaging,
      freshdesk: freshdesk,
      zipchat: zipchat,
      intercom: intercom,
      hubspot: hubspot,
      crisp: crisp,
      helpScout: helpScout,
      frontChat: frontChat,
    };
  }

  root.Bridge = { connect: connect, decodeJwt: decodeJwt, BridgeError: BridgeError };
})(window);
