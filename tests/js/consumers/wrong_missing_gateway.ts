import { connect } from "@bridge-gateway/client";

export const bridge = connect({ timeoutMs: 5000 }); // error TS2345
