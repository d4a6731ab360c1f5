/**
 * bridge.js: the browser client of the bridge gateway.
 *
 * The gateway verifies the visitor's login cookie and signs a fresh token for each support
 * widget; every helper here fetches one whenever its widget asks (with
 * `credentials: "include"`, so the browser sends the login cookie) and hands it to the widget
 * the way that vendor expects. The page's origin must be listed in the gateway's
 * `cors.origins`.
 *
 * @example
 * import { connect } from "@bridge-gateway/client";
 *
 * const bridge = connect({ gateway: "https://bridge.example.com" });
 * const chat = bridge.zendeskChat({ target: "zendesk-chat", accountKey: "YOUR_ACCOUNT_KEY" });
 * signOut.onclick = () => chat.logout();
 *
 * @packageDocumentation
 */

/** Codes the gateway answers a token request with (its JSON body's `code`). */
export type GatewayErrorCode =
  /** 401: no login cookie reached the gateway (not signed in, or the cookie is not sent) */
  | "00-00"
  /** 401: the login token is invalid or expired, or two different login cookies were sent */
  | "00-01"
  /** 422: the login token has no `sub` */
  | "00-02"
  /** 422: the login token has no (verified) `email`, and the target needs one */
  | "00-03"
  /** 404: no such target name in the gateway's configuration */
  | "target_not_found"
  /** 404: a `zendesk_sso` target, which has no widget token */
  | "sso_only_target"
  /** 429: too many token requests; the answer's `Retry-After` says when to come back */
  | "rate_limited"
  /** 403: the browser marked the request as something other than a page's fetch */
  | "fetch_metadata_refused"
  /** 503: the login system's signing keys cannot be fetched right now */
  | "upstream_keys_unavailable"
  /** HubSpot targets: HubSpot refused or failed the gateway's request for a token */
  | "vendor_bad_response"
  | "vendor_auth_failed"
  | "vendor_unavailable"
  | "vendor_rate_limited"
  | "vendor_circuit_open"
  | "vendor_timeout"
  /** answers of the HTTP layer to a malformed request */
  | "bad_request"
  | "not_found"
  | "method_not_allowed"
  | "not_acceptable"
  | "unsupported_media_type";

/** Codes this client gives errors of its own. */
export type ClientErrorCode =
  /** the gateway is unreachable, or it does not list this page's origin in `cors.origins` */
  | "network_error"
  /** no answer within `timeoutMs` */
  | "timeout"
  /** the gateway's answer held no token (or, for an HMAC helper, no identifier) */
  | "bad_response"
  /** the vendor's object (`zChat`, `zE`, `Intercom`, ...) is not on the page */
  | "widget_missing"
  /** a required option is missing */
  | "bad_option"
  /** Zendesk Messaging's login callback reported an error (see {@link BridgeError.details}) */
  | "login_failed"
  /** {@link decodeJwt} was given something that is not a compact JWT with JSON parts */
  | "malformed_token"
  /** the gateway answered this HTTP status without a JSON `code` */
  | `http_${number}`;

/** Every value of {@link BridgeError.code}. */
export type BridgeErrorCode = GatewayErrorCode | ClientErrorCode;

/** What Zendesk Messaging's login callback reported, for `code` `"login_failed"`. */
export interface LoginFailure {
  message: string | null;
  reason: string | null;
  type: string | null;
  /** true for a 409: another Zendesk user with this email has a different `external_id` */
  conflict: boolean;
}

/**
 * An error from the gateway, the network or a widget. `message` reads like
 * `"401 00-00: Token not passed"`.
 */
export class BridgeError extends Error {
  constructor(
    code: BridgeErrorCode,
    description: string,
    status?: number | null,
    details?: LoginFailure | null,
  );
  readonly name: "BridgeError";
  /** the gateway's code, or one of this client's own */
  readonly code: BridgeErrorCode;
  /** the gateway's (or this client's) explanation, for people */
  readonly description: string;
  /** the HTTP status when the gateway answered, else null */
  readonly status: number | null;
  /** for `login_failed`: what Zendesk reported; else null */
  readonly details: LoginFailure | null;
}

/** Options of {@link connect}. */
export interface ConnectOptions {
  /**
   * The gateway's origin, e.g. `"https://bridge.example.com"` (a trailing `/` is ignored).
   * `""` means the page's own origin. Required, so that a forgotten gateway is a compile
   * error rather than requests to the wrong host.
   */
  gateway: string;
  /** How long one token request may take before it fails with `timeout` (default 10000). */
  timeoutMs?: number;
  /**
   * Called with a {@link BridgeError} when a token that a widget asked for later cannot be had
   * (the widget itself has no error channel). Default: `console.error`.
   */
  onError?: (error: BridgeError) => void;
}

/** A freshly signed token, from {@link BridgeClient.token}. */
export interface MintedToken {
  /** the token (a JWT), or an HMAC signature for `hmac_identity` targets */
  token: string;
  /** the target that signed it */
  target: string;
  /** seconds since the epoch when it expires; null when it does not */
  expiresAt: number | null;
  /** `hmac_identity` targets: the value the signature was computed over */
  identifier?: string;
  /** HubSpot targets: the email the token identifies */
  email?: string;
}

/** What every helper gives back: a way to sign the visitor out of the widget. */
export interface WidgetHandle {
  /** Sign the visitor out of the widget (call it when they sign out of your site). */
  logout(): void;
}

/** A helper's handle that also renews its token on demand. */
export interface RenewableHandle<Renewed> extends WidgetHandle {
  /** Fetch a fresh token and hand it to the widget now. */
  renew(): Promise<Renewed>;
}

/** Zipchat's handle: identification repeats on every `zipchat:ready-to-identify` event. */
export interface ZipchatHandle {
  /** Stop listening for later `zipchat:ready-to-identify` events. */
  stop(): void;
}

/** HubSpot's handle: the identity the widget was given. */
export interface HubSpotHandle extends WidgetHandle {
  /** the email HubSpot's token identifies */
  email: string | undefined;
  /** when that token expires (seconds since the epoch), or null */
  expiresAt: number | null;
}

/** A vendor's command-style global function, such as `zE`, `Intercom` or `Beacon`. */
export type VendorFunction = (...args: any[]) => unknown;

/** Settings passed through to a vendor's own call (`zChat.init`, `Intercom("boot")`, ...). */
export type VendorSettings = Record<string, unknown>;

/** Every helper's `target`: a target name from the gateway's configuration. */
export interface TargetOption {
  /** a target name from the gateway's configuration; each helper has a default (below) */
  target?: string;
}

/** {@link BridgeClient.zendeskChat}: the Zendesk Chat Web SDK. */
export interface ZendeskChatOptions extends TargetOption {
  /** the Chat account key (required) */
  accountKey: string;
  /** other `zChat.init` options */
  init?: VendorSettings;
  /** the SDK object; default `window.zChat` */
  zChat?: { init(options: VendorSettings): void; logoutForAll(): void };
}

/** {@link BridgeClient.webWidgetClassic}: the Zendesk Web Widget (Classic). */
export interface WebWidgetClassicOptions extends TargetOption {
  /** the widget's function, for `logout()`; default `window.zE` */
  zE?: VendorFunction;
}

/** {@link BridgeClient.zendeskMessaging}: the Zendesk Messaging Web Widget. */
export interface ZendeskMessagingOptions extends TargetOption {
  /** the widget's function; default `window.zE` */
  zE?: VendorFunction;
}

/** Renewal timing of the helpers that renew a token before it expires. */
export interface RenewalOptions {
  /** renew this many seconds before `exp` (default 60) */
  renewBeforeSeconds?: number;
  /** but never more often than every this many seconds (default 30) */
  minRenewSeconds?: number;
}

/** {@link BridgeClient.freshdesk}: the Freshdesk help widget. */
export interface FreshdeskOptions extends TargetOption, RenewalOptions {
  /** the widget's function; default `window.FreshworksWidget` */
  FreshworksWidget?: VendorFunction;
}

/** {@link BridgeClient.zipchat}: the Zipchat widget. */
export interface ZipchatOptions extends TargetOption {
  /** the widget object; default `window.Zipchat` */
  Zipchat?: { identify(jwt: string): void; isReadyToIdentify?(): boolean };
}

/** {@link BridgeClient.intercom}: the Intercom Messenger. */
export interface IntercomOptions extends TargetOption, RenewalOptions {
  /** the Intercom workspace's app id (required) */
  appId: string;
  /** `hmac_identity` targets: what the identifier is (default `"user_id"`) */
  identifiedBy?: "user_id" | "email";
  /** other boot settings */
  boot?: VendorSettings;
  /** the Messenger's function; default `window.Intercom` */
  Intercom?: VendorFunction;
}

/** HubSpot's `window.HubSpotConversations`, as far as the helper uses it. */
export interface HubSpotConversations {
  widget: {
    load(): void;
    refresh(): void;
    status?(): { loaded: boolean };
  };
  clear(options: { resetWidget: boolean }): void;
}

/** {@link BridgeClient.hubspot}: HubSpot chat. */
export interface HubSpotOptions extends TargetOption {
  /** default `window.HubSpotConversations` (or, until it exists, `hsConversationsOnReady`) */
  HubSpotConversations?: HubSpotConversations;
}

/** {@link BridgeClient.crisp}: the Crisp chatbox. */
export interface CrispOptions extends TargetOption {
  /** Crisp's command queue; default `window.$crisp` (made when missing) */
  $crisp?: unknown[];
}

/** {@link BridgeClient.helpScout}: Help Scout's Beacon in secure mode. */
export interface HelpScoutOptions extends TargetOption {
  /** the visitor's name, shown to agents */
  name?: string;
  /** Beacon's function; default `window.Beacon` */
  Beacon?: VendorFunction;
}

/** {@link BridgeClient.frontChat}: Front Chat. */
export interface FrontChatOptions extends TargetOption {
  /** the chat channel's id (required) */
  chatId: string;
  /** other `FrontChat("init")` options */
  init?: VendorSettings;
  /** Front's function; default `window.FrontChat` */
  FrontChat?: VendorFunction;
}

/** A client for one gateway, from {@link connect}. */
export interface BridgeClient {
  /** the gateway's origin, as given to {@link connect} without a trailing `/` */
  readonly gateway: string;

  /** A freshly signed token for `target`, for any use the helpers do not cover. */
  token(target: string): Promise<MintedToken>;

  /**
   * Zendesk Chat Web SDK: `zChat.init({account_key, authentication: {jwt_fn}})`; `jwt_fn`
   * fetches a fresh token on every call. Default target `"zendesk-chat"`.
   */
  zendeskChat(options: ZendeskChatOptions): WidgetHandle;

  /**
   * Zendesk Web Widget (Classic): sets `zESettings.webWidget.authenticate.chat.jwtFn`,
   * keeping the page's other settings. Call it before the widget's snippet.
   * Default target `"zendesk-chat"`.
   */
  webWidgetClassic(options?: WebWidgetClassicOptions): WidgetHandle;

  /**
   * Zendesk Messaging: `zE("messenger", "loginUser", ...)`. Resolves once Zendesk reports the
   * login; rejects with a {@link BridgeError} (`login_failed` carries Zendesk's error in
   * `details`). Default target `"zendesk-messaging"`.
   */
  zendeskMessaging(options?: ZendeskMessagingOptions): Promise<WidgetHandle>;

  /**
   * Freshdesk help widget: `FreshworksWidget("authenticate", {token, callback})`, renewed
   * before `exp`. Resolves after the first authenticate. Default target `"freshdesk"`.
   */
  freshdesk(options?: FreshdeskOptions): Promise<RenewableHandle<MintedToken>>;

  /**
   * Zipchat: `Zipchat.identify(jwt)` once the widget is ready to identify, and again on each
   * later `zipchat:ready-to-identify` event. Resolves after the first identification.
   * Default target `"zipchat"`.
   */
  zipchat(options?: ZipchatOptions): Promise<ZipchatHandle>;

  /**
   * Intercom Messenger: `Intercom("boot", {app_id, intercom_user_jwt})`, renewed with
   * `Intercom("update")` before `exp`; an `hmac_identity` target boots with `user_id` (or
   * `email`) and `user_hash`. Resolves after boot. Default target `"intercom"`.
   */
  intercom(options: IntercomOptions): Promise<RenewableHandle<void>>;

  /**
   * HubSpot chat: `hsConversationsSettings.identificationEmail` and `identificationToken`,
   * then `HubSpotConversations.widget.load()` (or `refresh()`). Set `loadImmediately: false`
   * in `hsConversationsSettings` before HubSpot's script. Default target `"hubspot"`.
   */
  hubspot(options?: HubSpotOptions): Promise<HubSpotHandle>;

  /**
   * Crisp: `$crisp.push(["set", "user:email", [email, signature]])`, also before Crisp's
   * script loads. Needs an `hmac_identity` target. Default target `"crisp"`.
   */
  crisp(options?: CrispOptions): Promise<WidgetHandle>;

  /**
   * Help Scout Beacon: `Beacon("identify", {email, signature, name})`. Needs an
   * `hmac_identity` target. Default target `"helpscout"`.
   */
  helpScout(options?: HelpScoutOptions): Promise<WidgetHandle>;

  /**
   * Front Chat: `FrontChat("init", {chatId, email, userHash, ...})`. Needs an
   * `hmac_identity` target. Default target `"front"`.
   */
  frontChat(options: FrontChatOptions): Promise<WidgetHandle>;
}

/** A client for the gateway at `options.gateway`. */
export function connect(options: ConnectOptions): BridgeClient;

/** A JWT's header and payload, decoded but NOT verified. */
export interface DecodedJwt {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

/**
 * The header and payload of a JWT, NOT verified: for display and debugging only. Throws a
 * {@link BridgeError} with code `malformed_token` for anything else.
 */
export function decodeJwt(token: string): DecodedJwt;

/** The `Bridge` global of the `<script>` build, as one object. */
declare const Bridge: {
  connect: typeof connect;
  decodeJwt: typeof decodeJwt;
  BridgeError: typeof BridgeError;
};
export default Bridge;
