import { BridgeError } from "@bridge-gateway/client";

export function isExpired(err: BridgeError): boolean {
  return err.code === "00-09"; // error TS2367
}
