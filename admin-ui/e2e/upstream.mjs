// A real upstream for the e2e run: answers every request with 200 and a small
// JSON body naming the path, like an OpenAI-compatible gateway would.
// Usage: node e2e/upstream.mjs PORT
import http from 'node:http'

const port = Number(process.argv[2] ?? 17080)
http
  .createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify({ object: 'list', data: [], path: req.url }))
    })
  })
  .listen(port, '127.0.0.1', () => console.log(`upstream on 127.0.0.1:${port}`))
