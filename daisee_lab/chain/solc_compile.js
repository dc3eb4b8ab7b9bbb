// Compile one Solidity standard-JSON input with solc-js (the npm package `solc`).
// Reads the input on stdin, writes solc's JSON output on stdout and nothing else.
// Usage: node solc_compile.js SOLC_PACKAGE_DIR
//        node solc_compile.js SOLC_PACKAGE_DIR --version
const solc = require(process.argv[2]);

if (process.argv[3] === "--version") {
  process.stdout.write(solc.version());
} else {
  const chunks = [];
  process.stdin.on("data", (chunk) => chunks.push(chunk));
  process.stdin.on("end", () => {
    process.stdout.write(solc.compile(Buffer.concat(chunks).toString("utf8")));
  });
}
