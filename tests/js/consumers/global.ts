// A page that loads the <script> build and type-checks against its global.
/// <reference types="@bridge-gateway/client/global" />

const bridge = Bridge.connect({ gateway: "https://bridge.example.com" });
bridge.zendeskChat({ accountKey: "KEY" });
const fromWindow = window.Bridge.decodeJwt("a.b.c").payload;

export { fromWindow };
