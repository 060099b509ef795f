// Peer benchmark: @secvisogram/csaf-validator-lib (the OASIS-referenced
// JavaScript validator) on the same documents as examples/validate_bench.rs:
// schema (csaf_2_0) + all mandatory tests, documents parsed once up front.
//
// Install the peer outside the repository, then run from there:
//   mkdir -p /tmp/csafpeer && cd /tmp/csafpeer && npm init -y >/dev/null \
//     && npm install @secvisogram/csaf-validator-lib
//   NODE_PATH=/tmp/csafpeer/node_modules node crates/csaf/bench/csaf_validator_peer.mjs [--rounds 20] [--findings]
//
// (ES modules ignore NODE_PATH, so the script resolves the package from
// CSAF_PEER_DIR, default /tmp/csafpeer.)
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const peer = process.env.CSAF_PEER_DIR ?? '/tmp/csafpeer'
const lib = path.join(peer, 'node_modules/@secvisogram/csaf-validator-lib')
const validate = (await import(path.join(lib, 'validate.js'))).default
const mandatory = await import(path.join(lib, 'mandatoryTests.js'))
const schema = await import(path.join(lib, 'schemaTests.js'))
const tests = [schema.csaf_2_0, ...Object.values(mandatory)]

const args = process.argv.slice(2)
const ri = args.indexOf('--rounds')
const rounds = ri >= 0 ? Number(args[ri + 1]) : 20
const here = path.dirname(fileURLToPath(import.meta.url))
const shared = path.resolve(here, '../../../../shared/csaf')
const sets = [
  ['oasis-tests', 'oasis-csaf-2.0-tests/test/validator/data/mandatory'],
  ['cisa', 'cisa-sample'],
  ['oasis-examples', 'oasis-csaf-2.0-examples/examples/csaf'],
]
function jsonFiles(dir) {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .flatMap((e) =>
      e.isDirectory()
        ? jsonFiles(path.join(dir, e.name))
        : e.name.endsWith('.json')
          ? [path.join(dir, e.name)]
          : [],
    )
}
const docs = sets.flatMap(([set, dir]) =>
  jsonFiles(path.join(shared, dir)).map((f) => ({ set, file: f, doc: JSON.parse(fs.readFileSync(f, 'utf8')) })),
)

if (args.includes('--matrix')) {
  for (const { set, file, doc } of docs) {
    const r = await validate(tests, doc)
    const failed = r.tests
      .filter((t) => !t.isValid)
      .map((t) => (t.name === 'csaf_2_0' ? 'schema' : t.name.replace('mandatoryTest_', '').replaceAll('_', '.')))
      .sort()
    console.log(`${set}/${path.basename(file)}: ${failed.join(' ')}`)
  }
  process.exit(0)
}

if (args.includes('--findings')) {
  for (const { set, file, doc } of docs) {
    if (set === 'oasis-tests') continue
    const r = await validate(tests, doc)
    const failed = r.tests.filter((t) => !t.isValid)
    console.log(`${set}/${path.basename(file)}: ${failed.length ? failed.length + ' failing tests' : 'valid'}`)
    for (const t of failed) for (const e of t.errors) console.log(`    [${t.name}] ${e.instancePath}: ${e.message}`)
  }
  process.exit(0)
}

let findings = 0
for (const { doc } of docs) {
  const r = await validate(tests, doc)
  findings += r.tests.reduce((n, t) => n + t.errors.length, 0)
}
const rates = []
for (let i = 0; i < rounds; i++) {
  const start = process.hrtime.bigint()
  for (const { doc } of docs) await validate(tests, doc)
  const secs = Number(process.hrtime.bigint() - start) / 1e9
  rates.push(docs.length / secs)
}
rates.sort((a, b) => a - b)
console.log(
  `csaf-validator-lib: ${docs.length} documents x ${rounds} rounds, ${findings} findings per round, median ${rates[Math.floor(rates.length / 2)].toFixed(0)} docs/s (min ${rates[0].toFixed(0)}, max ${rates[rates.length - 1].toFixed(0)})`,
)
