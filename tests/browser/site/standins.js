/*
 * Stand-ins for the vendors' widget objects, as the vendors' snippets would define them.
 * Each records what it receives in window.received; the tests drive the callbacks the
 * widgets would call themselves (Zendesk calling jwt_fn, Freshdesk calling its callback,
 * Zipchat firing zipchat:ready-to-identify).
 */
(function () {
  "use strict";
  const received = (window.received = {
    zChat: [], // ["init", options] | ["logoutForAll"]
    zE: [], // the arguments of each zE(...) call
    freshworks: [], // the arguments of each FreshworksWidget(...) call
    zipchat: [], // each JWT handed to Zipchat.identify
    intercom: [], // the arguments of each Intercom(...) call
    hubspot: [], // ["load" | "refresh" | "clear", a copy of hsConversationsSettings]
    beacon: [], // the arguments of each Beacon(...) call
    front: [], // the arguments of each FrontChat(...) call
    errors: [], // what bridge's onError reported
  });

  window.Intercom = function (...args) {
    received.intercom.push(args);
  };

  // Crisp's snippet defines $crisp as an array; its script drains it later
  window.$crisp = [];

  let hubspotLoaded = false;
  const settingsNow = () => Object.assign({}, window.hsConversationsSettings || {});
  /** HubSpot's script defines this once it starts (the tests call installHubSpot()) */
  window.installHubSpot = function () {
    window.HubSpotConversations = {
      widget: {
        status() {
          return { loaded: hubspotLoaded };
        },
        load() {
          hubspotLoaded = true;
          received.hubspot.push(["load", settingsNow()]);
        },
        refresh() {
          received.hubspot.push(["refresh", settingsNow()]);
        },
      },
      clear(options) {
        received.hubspot.push(["clear", settingsNow(), options]);
      },
    };
    for (const ready of window.hsConversationsOnReady || []) ready();
  };

  window.Beacon = function (...args) {
    received.beacon.push(args);
  };

  window.FrontChat = function (...args) {
    received.front.push(args);
  };

  window.zChat = {
    init(options) {
      received.zChat.push(["init", options]);
    },
    logoutForAll() {
      received.zChat.push(["logoutForAll"]);
    },
  };

  window.zE = function (...args) {
    received.zE.push(args);
  };

  window.FreshworksWidget = function (...args) {
    received.freshworks.push(args);
  };

  let zipchatReady = false;
  window.Zipchat = {
    isReadyToIdentify() {
      return zipchatReady;
    },
    identify(jwt) {
      if (!zipchatReady) throw new Error("Zipchat.identify: Not ready to identify");
      received.zipchat.push(jwt);
    },
    /** what the real widget does once it can identify */
    becomeReady() {
      zipchatReady = true;
      window.dispatchEvent(new Event("zipchat:ready-to-identify"));
    },
  };

  /** Calls fn(callback) like a widget would and resolves with what it called back with. */
  window.callWidgetFn = function (fn) {
    return new Promise((resolve) => fn(resolve));
  };

  /** Polls until check() is truthy (what a widget's own event loop would wait for). */
  window.until = async function (check, ms = 5000) {
    const give_up = Date.now() + ms;
    while (!check()) {
      if (Date.now() > give_up) throw new Error("timed out waiting for " + check);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  /** A BridgeError (or any error) as plain data for the test. */
  window.asData = function (err) {
    return {
      name: err.name,
      code: err.code,
      status: err.status,
      description: err.description,
      message: err.message,
      details: err.details,
      isBridgeError: err instanceof window.Bridge.BridgeError,
    };
  };
})();
