// A stock Yjs + y-websocket client as a CLI, so that Python tests can check that the hub's
// y-websocket endpoint interoperates with the real JavaScript implementation (not only with our
// own Python codec). Bundled by build.mjs into tests/interop/yclient.cjs; flags in
// tests/interop/README.md.
//
// stdout gets exactly one JSON line (the result); stderr gets one JSON line per event seen
// (unless --quiet). Exit codes: 0 all conditions met, 1 timeout, 2 bad usage or bad edit.
import { parseArgs } from 'node:util'
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import { Awareness } from 'y-protocols/awareness'
import * as Y from 'yjs'

const USAGE = `usage: yclient.cjs --url ws://HOST/yjs --room SLUG [options]
  --token T              sent as the ?token= query parameter
  --param K=V            extra query parameter (repeatable)
  --header "Name: V"     extra handshake header, e.g. "Cookie: session=..." (repeatable)
  --origin URL           Origin header of the handshake (none by default)
  --name NAME            awareness user name (default node-<clientID>)
  --state JSON           extra awareness fields, merged with {"user": {"name": NAME}}
  --text NAME            name of the Y.Text to edit and report (default prompt)
  --at N                 position of --delete/--insert (default: end of the text)
  --delete N             delete N characters at --at after the first sync
  --insert TEXT          insert TEXT at --at after the first sync
  --expect TEXT          wait until the text equals TEXT
  --expect-contains S    wait until the text contains S (repeatable)
  --expect-peer NAME     wait until another client with user.name NAME is in awareness (repeatable)
  --expect-peer-gone N   wait until a peer named N was seen and has left awareness (repeatable)
  --expect-close CODE    wait until the server closes the socket with CODE (sync not required)
  --expect-reject STATUS wait until the handshake is refused with HTTP STATUS (sync not required)
  --timeout SECONDS      give up after this long, exit 1 (default 10)
  --linger MS            stay connected this long after all conditions hold (default 0)
  --quiet                no event lines on stderr
  --version              print the bundled package versions
  --help                 this text`

const fail = (message) => {
  process.stderr.write(`yclient: ${message}\n${USAGE}\n`)
  process.exit(2)
}

const toInt = (flag, value, min) => {
  if (value === undefined) return undefined
  if (!/^-?\d+$/.test(value) || Number(value) < min) fail(`${flag} needs an integer >= ${min}`)
  return Number(value)
}

let parsed
try {
  parsed = parseArgs({
    strict: true,
    options: {
      url: { type: 'string' },
      room: { type: 'string' },
      token: { type: 'string' },
      param: { type: 'string', multiple: true, default: [] },
      header: { type: 'string', multiple: true, default: [] },
      origin: { type: 'string' },
      name: { type: 'string' },
      state: { type: 'string' },
      text: { type: 'string', default: 'prompt' },
      at: { type: 'string' },
      delete: { type: 'string' },
      insert: { type: 'string' },
      expect: { type: 'string' },
      'expect-contains': { type: 'string', multiple: true, default: [] },
      'expect-peer': { type: 'string', multiple: true, default: [] },
      'expect-peer-gone': { type: 'string', multiple: true, default: [] },
      'expect-close': { type: 'string' },
      'expect-reject': { type: 'string' },
      timeout: { type: 'string', default: '10' },
      linger: { type: 'string', default: '0' },
      quiet: { type: 'boolean', default: false },
      version: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false }
    }
  })
} catch (err) {
  fail(err.message)
}
const opts = parsed.values
if (opts.help) {
  process.stdout.write(USAGE + '\n')
  process.exit(0)
}
if (opts.version) {
  process.stdout.write(JSON.stringify(globalThis.__YCLIENT_VERSIONS__ ?? {}) + '\n')
  process.exit(0)
}
if (!opts.url || !/^wss?:\/\//.test(opts.url)) fail('--url ws://... or wss://... is required')
if (!opts.room) fail('--room is required')

const params = {}
for (const pair of opts.param) {
  const eq = pair.indexOf('=')
  if (eq <= 0) fail(`--param needs K=V, got ${JSON.stringify(pair)}`)
  params[pair.slice(0, eq)] = pair.slice(eq + 1)
}
if (opts.token !== undefined) params.token = opts.token

const headers = {}
for (const line of opts.header) {
  const colon = line.indexOf(':')
  if (colon <= 0) fail(`--header needs "Name: value", got ${JSON.stringify(line)}`)
  headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim()
}

let extraState = {}
if (opts.state !== undefined) {
  try {
    extraState = JSON.parse(opts.state)
  } catch (err) {
    fail(`--state is not JSON: ${err.message}`)
  }
  if (extraState === null || typeof extraState !== 'object' || Array.isArray(extraState)) {
    fail('--state must be a JSON object')
  }
}

if (!/^\d+(\.\d+)?$/.test(opts.timeout)) fail('--timeout needs a number of seconds')
const timeoutMs = Number(opts.timeout) * 1000
const lingerMs = toInt('--linger', opts.linger, 0)
const at = toInt('--at', opts.at, 0)
const deleteCount = toInt('--delete', opts.delete, 0) ?? 0
const expectClose = toInt('--expect-close', opts['expect-close'], 1000)
const expectReject = toInt('--expect-reject', opts['expect-reject'], 100)
const needsSync = expectClose === undefined && expectReject === undefined

const started = Date.now()
const doc = new Y.Doc()
const ytext = doc.getText(opts.text)
const awareness = new Awareness(doc)
const name = opts.name ?? `node-${doc.clientID}`
awareness.setLocalState({ ...extraState, user: { ...(extraState.user ?? {}), name } })

const log = (event) => {
  if (!opts.quiet) process.stderr.write(JSON.stringify({ t: Date.now() - started, ...event }) + '\n')
}

const sockets = []
// y-websocket constructs sockets as `new WS(url, protocols)`; this subclass adds the handshake
// options a browser would send (Origin, cookies) and keeps the sockets so that exit can wait for
// the close handshake, which flushes edits still buffered.
class HandshakeWebSocket extends WebSocket {
  constructor (url, protocols) {
    super(url, protocols, { headers, ...(opts.origin ? { origin: opts.origin } : {}) })
    sockets.push(this)
  }
}

const closes = []
const errors = []
const peersSeen = new Set()
let editError = null
let closedForGood = null
let edited = false

const awarenessList = () =>
  [...awareness.getStates().entries()]
    .map(([clientId, state]) => ({ clientId, self: clientId === doc.clientID, state }))
    .sort((a, b) => a.clientId - b.clientId)

const peerNames = () =>
  new Set(
    awarenessList()
      .filter((entry) => !entry.self)
      .map((entry) => entry.state?.user?.name)
      .filter((n) => typeof n === 'string')
  )

const provider = new WebsocketProvider(opts.url, opts.room, doc, {
  params,
  awareness,
  WebSocketPolyfill: HandshakeWebSocket,
  // separate processes never share a BroadcastChannel, but turn it off so that only the server
  // can ever carry an update
  disableBc: true
})

/** Conditions not met yet, as readable strings (empty: done). */
const unmet = () => {
  const missing = []
  const text = ytext.toString()
  const peers = peerNames()
  if (needsSync && !provider.synced) missing.push('synced')
  if (opts.expect !== undefined && text !== opts.expect) missing.push(`text == ${JSON.stringify(opts.expect)}`)
  for (const part of opts['expect-contains']) {
    if (!text.includes(part)) missing.push(`text contains ${JSON.stringify(part)}`)
  }
  for (const peer of opts['expect-peer']) {
    if (!peers.has(peer)) missing.push(`peer ${JSON.stringify(peer)}`)
  }
  for (const peer of opts['expect-peer-gone']) {
    if (!peersSeen.has(peer) || peers.has(peer)) missing.push(`peer ${JSON.stringify(peer)} gone`)
  }
  if (expectClose !== undefined && !closes.some((c) => c.code === expectClose)) {
    missing.push(`close ${expectClose}`)
  }
  if (expectReject !== undefined && !errors.some((e) => e.httpStatus === expectReject)) {
    missing.push(`handshake refused with HTTP ${expectReject}`)
  }
  return missing
}

const applyEdit = () => {
  if (edited || (opts.insert === undefined && deleteCount === 0)) return
  edited = true
  const length = ytext.length
  const pos = at ?? length
  if (pos > length || pos + deleteCount > length) {
    editError = `edit out of range: --at ${pos} --delete ${deleteCount} on a text of length ${length}`
    return
  }
  doc.transact(() => {
    if (deleteCount > 0) ytext.delete(pos, deleteCount)
    if (opts.insert !== undefined) ytext.insert(pos, opts.insert)
  })
  log({ event: 'edit', at: pos, delete: deleteCount, insert: opts.insert ?? '' })
}

let finishing = false
// The result is taken when the outcome is decided (at the end of --linger, if given); `missing`
// lists the conditions unmet at the moment they were judged: during --linger one may stop holding
// (a peer leaves), which does not undo that all of them held together once. Shutting down waits for the next turn of the event loop, because the
// decision can be made inside a Yjs observer, before y-websocket has sent that transaction.
const finish = (timedOut, missing) => {
  if (finishing) return
  finishing = true
  const result = {
    ok: !timedOut && editError === null,
    synced: provider.synced,
    prompt: ytext.toString(),
    clientId: doc.clientID,
    name,
    awareness: awarenessList(),
    closes: [...closes],
    errors: [...errors],
    closedForGood,
    unmet: missing,
    editError,
    elapsedMs: Date.now() - started
  }
  const code = editError !== null ? 2 : timedOut ? 1 : 0
  setImmediate(async () => {
    provider.destroy() // announces our awareness as null, then closes the socket
    await Promise.race([
      Promise.all(sockets.map((ws) => ws.readyState === WebSocket.CLOSED
        ? null
        : new Promise((resolve) => ws.once('close', resolve)))),
      new Promise((resolve) => setTimeout(resolve, 2000))
    ])
    process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(code))
  })
}

let lingerTimer = null
const evaluate = () => {
  if (finishing || lingerTimer !== null) return
  if (editError !== null) {
    finish(false, unmet())
    return
  }
  const missing = unmet()
  if (missing.length > 0) {
    if (closedForGood !== null) finish(true, missing)
    return
  }
  // Without --linger, finish now so that the reported awareness is the one that met the conditions.
  if (lingerMs === 0) finish(false, [])
  else lingerTimer = setTimeout(() => finish(false, []), lingerMs)
}

provider.on('status', ({ status }) => log({ event: 'status', status }))
provider.on('sync', (synced) => {
  log({ event: 'sync', synced })
  if (synced) applyEdit()
  evaluate()
})
provider.on('connection-close', (event) => {
  if (event === null) return // we closed it ourselves
  closes.push({ code: event.code, reason: event.reason })
  log({ event: 'close', code: event.code, reason: event.reason })
  evaluate()
})
// y-websocket 3 gives up for good on close codes 4400-4499; nothing can change after that, so a
// run still waiting for something fails at once instead of at --timeout.
provider.on('closed', ({ code, reason }) => {
  closedForGood = { code, reason }
  log({ event: 'closed-for-good', code, reason })
  evaluate()
})
provider.on('connection-error', (event) => {
  const message = String(event?.message ?? event?.error?.message ?? 'websocket error')
  const status = /Unexpected server response: (\d+)/.exec(message)
  errors.push({ message, httpStatus: status ? Number(status[1]) : null })
  log({ event: 'error', message })
  evaluate()
})
awareness.on('change', () => {
  for (const n of peerNames()) peersSeen.add(n)
  log({ event: 'awareness', states: awarenessList() })
  evaluate()
})
ytext.observe(() => {
  log({ event: 'text', text: ytext.toString() })
  evaluate()
})

setTimeout(() => { if (lingerTimer === null) finish(true, unmet()) }, timeoutMs)
