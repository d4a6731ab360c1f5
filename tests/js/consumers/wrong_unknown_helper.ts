import { connect } from "@bridge-gateway/client";

const bridge = connect({ gateway: "https://bridge.example.com" });
bridge.zendesk({ target: "zendesk-chat" }); // error TS2339
