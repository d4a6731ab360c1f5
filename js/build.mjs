// The package's two builds, from the one file the gateway serves (bridge/static/bridge.js):
//   dist/bridge.js   that file, byte for byte: the plain <script> build (window.Bridge)
//   dist/bridge.mjs  the same code as an ES module: connect, decodeJwt, BridgeError (and a
//                    default export with all three), without touching window.Bridge
// No dependencies and no network; `npm pack` runs it (prepack).
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, "..", "bridge", "static", "bridge.js");
const script = readFileSync(source, "utf8");

const OPEN = "(function (root) {\n";
const CLOSE =
  "  root.Bridge = { connect: connect, decodeJwt: decodeJwt, BridgeError: BridgeError };\n" +
  "})(window);\n";

function once(text, part) {
  const at = text.indexOf(part);
  if (at < 0 || text.indexOf(part, at + 1) >= 0) {
    throw new Error(`bridge.js must contain ${JSON.stringify(part)} exactly once`);
  }
  return at;
}

if (!script.endsWith(CLOSE)) throw new Error("bridge.js must end by setting root.Bridge");
const open = once(script, OPEN);
once(script, CLOSE);
const module =
  "// Generated from bridge.js by build.mjs: the same code as an ES module.\n" +
  script.slice(0, open) +
  "const Bridge = " +
  script.slice(open, script.length - CLOSE.length) +
  "  return { connect: connect, decodeJwt: decodeJwt, BridgeError: BridgeError };\n" +
  "})(globalThis);\n" +
  "export const { connect, decodeJwt, BridgeError } = Bridge;\n" +
  "export default Bridge;\n";

const dist = join(here, "dist");
mkdirSync(dist, { recursive: true });
writeFileSync(join(dist, "bridge.js"), script);
writeFileSync(join(dist, "bridge.mjs"), module);
