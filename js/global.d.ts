/**
 * The `Bridge` global that the `<script>` build (`/static/bridge.js`) defines, for pages that
 * load it with a script tag and type-check their own code:
 *
 *     /// <reference types="@bridge-gateway/client/global" />
 *     const bridge = Bridge.connect({ gateway: "https://bridge.example.com" });
 */
import type BridgeScript from "./bridge.js";

declare global {
  /** bridge.js, loaded with `<script src=".../static/bridge.js">` */
  var Bridge: typeof BridgeScript;
}

export {};
