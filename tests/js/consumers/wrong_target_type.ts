import { connect } from "@bridge-gateway/client";

const bridge = connect({ gateway: "https://bridge.example.com" });
bridge.freshdesk({ target: 42 }); // error TS2322
