// A strict consumer of the packed package, using every helper as docs/integration.md shows.
import Bridge, { BridgeError, connect, decodeJwt } from "@bridge-gateway/client";
import type {
  BridgeClient,
  BridgeErrorCode,
  HubSpotHandle,
  MintedToken,
  WidgetHandle,
} from "@bridge-gateway/client";

const bridge: BridgeClient = connect({
  gateway: "https://bridge.example.com",
  timeoutMs: 5000,
  onError: (error) => console.warn(error.code, error.status, error.description),
});
const same = Bridge.connect({ gateway: "" }); // the default export is the <script> global's shape
const origin: string = same.gateway;

const chat: WidgetHandle = bridge.zendeskChat({ target: "zendesk-chat", accountKey: "KEY" });
chat.logout();
const widget = bridge.webWidgetClassic({ target: "zendesk-chat" });
widget.logout();

bridge
  .zendeskMessaging({ target: "zendesk-messaging" })
  .then((messaging) => messaging.logout())
  .catch((err: unknown) => {
    if (err instanceof BridgeError && err.code === "login_failed" && err.details?.conflict) {
      console.warn(err.details.reason, err.message);
    }
  });

const helpdesk = await bridge.freshdesk({ target: "freshdesk", renewBeforeSeconds: 90 });
const renewed: MintedToken = await helpdesk.renew();
helpdesk.logout();

const zipchat = await bridge.zipchat({ target: "zipchat" });
zipchat.stop();

const messenger = await bridge.intercom({ target: "intercom", appId: "YOUR_APP_ID" });
await messenger.renew();
messenger.logout();
await bridge.intercom({ target: "intercom_legacy", appId: "abc", identifiedBy: "email" });

const hubspotChat: HubSpotHandle = await bridge.hubspot({ target: "hubspot" });
const email: string | undefined = hubspotChat.email;
hubspotChat.logout();

const crispChat = await bridge.crisp({ target: "crisp" });
crispChat.logout();
const beacon = await bridge.helpScout({ target: "helpscout", name: "Ann Lee" });
beacon.logout();
const front = await bridge.frontChat({ target: "front", chatId: "YOUR_CHAT_ID", init: {} });
front.logout();

const minted = await bridge.token("zendesk-chat");
const expires: number | null = minted.expiresAt;
const { header, payload } = decodeJwt(minted.token);

try {
  await bridge.token("freshdesk");
} catch (err) {
  if (err instanceof BridgeError) {
    const code: BridgeErrorCode = err.code;
    const status: number | null = err.status;
    if (code === "00-00" || code === "network_error" || code === "http_502") {
      console.warn(status);
    }
  }
}

export { origin, renewed, email, expires, header, payload };
