// Compiles every contract in src/ with solc-js into out/<Name>.json ({abi, bytecode}).
// Imports resolve from node_modules, so @openzeppelin/contracts works as in foundry.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const srcDir = path.join(__dirname, "src");
const outDir = path.join(__dirname, "out");

const sources = {};
for (const file of fs.readdirSync(srcDir).filter((f) => f.endsWith(".sol"))) {
  sources[file] = { content: fs.readFileSync(path.join(srcDir, file), "utf8") };
}

function findImports(importPath) {
  const candidates = [path.join(__dirname, "node_modules", importPath), path.join(srcDir, importPath)];
  for (const candidate of candidates) {
    if (fs.existsSync(candidate)) return { contents: fs.readFileSync(candidate, "utf8") };
  }
  return { error: `not found: ${importPath}` };
}

const input = {
  language: "Solidity",
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "cancun",
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
  },
};

const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (output.errors || []).filter((e) => e.severity === "error");
for (const e of output.errors || []) console.error(e.formattedMessage);
if (errors.length > 0) process.exit(1);

fs.mkdirSync(outDir, { recursive: true });
for (const file of Object.keys(sources)) {
  for (const [name, contract] of Object.entries(output.contracts[file])) {
    const artifact = { abi: contract.abi, bytecode: "0x" + contract.evm.bytecode.object };
    fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(artifact));
    console.log(`compiled ${name} (${contract.evm.bytecode.object.length / 2} bytes)`);
  }
}
