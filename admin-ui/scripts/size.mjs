// Prints the gzip size of the built console: everything, the login page's first
// load (index.html + what it references + the login chunk), and the biggest files.
import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'

const dir = process.argv[2] ?? 'dist'
const files = fs.readdirSync(path.join(dir, 'assets')).map((f) => path.join('assets', f))
const gz = (f) => zlib.gzipSync(fs.readFileSync(path.join(dir, f)), { level: 9 }).length
const sizes = Object.fromEntries(['index.html', ...files].map((f) => [f, gz(f)]))
const kb = (n) => `${(n / 1024).toFixed(1)} KB`
const total = Object.values(sizes).reduce((a, b) => a + b, 0)
const index = fs.readFileSync(path.join(dir, 'index.html'), 'utf8')
const first = new Set(['index.html', ...[...index.matchAll(/\/admin\/ui\/(assets\/[^"]+)/g)].map((m) => m[1])])
for (const f of files) if (/^assets\/LoginPage-/.test(f)) first.add(f)
const firstSize = [...first].reduce((a, f) => a + (sizes[f] ?? 0), 0)
console.log(`gzip total ${kb(total)} in ${files.length + 1} files; login first load ${kb(firstSize)} (${first.size} files, plus the login page's own imports)`)
for (const [f, n] of Object.entries(sizes).sort((a, b) => b[1] - a[1]).slice(0, 5)) console.log(`  ${kb(n).padStart(9)}  ${f}`)
