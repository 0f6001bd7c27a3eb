// End-to-end tests of the console against a running sentinel (admin API and
// proxy), driven in Debian's Chromium. Environment:
//   SENTINEL_E2E_ADMIN_URL       admin listener, e.g. http://127.0.0.1:7001 (required)
//   SENTINEL_E2E_ADMIN_PASSWORD  the admin password (required)
//   SENTINEL_E2E_PROXY_URL       proxy listener, e.g. http://127.0.0.1:7000; without it
//                                the proxy scenarios are skipped and only the page tour runs
//   SENTINEL_E2E_LOCKOUT=1       also run the lockout scenario last (it locks 127.0.0.1 out)
// Keys are bound by real proxied requests from 127.0.0.1 and 127.0.0.2. Test keys have no
// hyphen after "sk-": Sentinel reads "sk-abc-123" as key "sk-abc" with channel suffix "-123".
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import fs from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { launch, newPage, shot, setPrefs, COMBOS, PHONE, firstLoad } from './browser.mjs'

const ADMIN = process.env.SENTINEL_E2E_ADMIN_URL
const PASSWORD = process.env.SENTINEL_E2E_ADMIN_PASSWORD
const PROXY = process.env.SENTINEL_E2E_PROXY_URL
const LOCKOUT = process.env.SENTINEL_E2E_LOCKOUT === '1'
if (!ADMIN || !PASSWORD) throw new Error('set SENTINEL_E2E_ADMIN_URL and SENTINEL_E2E_ADMIN_PASSWORD')
const UI = new URL('/admin/ui/', ADMIN).href
const ui = (p) => new URL(p, UI).href

let browser
let session // { page, context, errors } logged in once, shared by the scenarios in order

/**
 * sent is what the scenarios sent through the proxy, as the dashboard must
 * count it: allowed, refused (would-be refusals in monitor mode included) and
 * keys that bound afresh.
 */
const sent = { allowed: 0, refused: 0, newBindings: 0 }

/**
 * proxied sends one request through the proxy from a chosen loopback address
 * and returns its status, counting it in sent: a 200 as allowed unless
 * wouldRefuse says the rules refuse it (monitor mode lets it through).
 */
async function proxied(key, fromIP, { path = '/v1/models', wouldRefuse = false, binds = false } = {}) {
  const status = await send(key, fromIP, path)
  if (status === 200 && !wouldRefuse) sent.allowed++
  else if (status === 200 || status === 403) sent.refused++
  if (status === 200 && binds) sent.newBindings++
  return status
}

function send(key, fromIP, path) {
  const u = new URL(path, PROXY)
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname, method: 'GET', localAddress: fromIP, headers: { Authorization: `Bearer ${key}` }, agent: false },
      (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode))
      },
    )
    req.on('error', reject)
    req.end()
  })
}

/** eventually polls fn until it returns true or the deadline passes (changes reach the proxy asynchronously). */
async function eventually(what, fn, deadlineMs = 5000) {
  const until = Date.now() + deadlineMs
  let last
  for (;;) {
    last = await fn()
    if (last === true) return
    if (Date.now() > until) assert.fail(`${what}: still ${JSON.stringify(last)} after ${deadlineMs} ms`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

async function login(page, password = PASSWORD) {
  await page.locator('[data-test=password]').fill(password)
  await page.locator('[data-test=login-submit]').click()
}

async function confirmBox(page) {
  const box = page.locator('.el-message-box')
  await box.waitFor()
  await box.locator('.el-button--primary').click()
  await box.waitFor({ state: 'hidden' })
}

/** findByKey uses the bindings page's key box and returns the drawer locator. */
async function findByKey(page, key) {
  await page.goto(ui('bindings'))
  await page.locator('[data-test=find-key]').fill(key)
  await page.locator('[data-test=find-key-submit]').click()
  const drawer = page.locator('.el-drawer').filter({ has: page.locator('.el-descriptions') })
  await drawer.waitFor()
  // The key never reaches the URL, history or web storage.
  assert.ok(!page.url().includes(key), 'key in URL')
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + JSON.stringify(history.state))
  assert.ok(!stored.includes(key), 'key in storage or history state')
  return drawer
}

async function bindingId(drawer) {
  return (await drawer.locator('.el-descriptions .mono').first().innerText()).trim()
}

async function closeDrawer(page) {
  await page.keyboard.press('Escape')
  await page.locator('.el-drawer').waitFor({ state: 'hidden' }).catch(() => {})
}

/** rowWithHint is the bindings table row showing a key hint. */
function rowWithHint(page, hint) {
  return page.locator('[data-test=bindings-table] .el-table__body-wrapper tr.el-table__row').filter({ hasText: hint })
}

before(async () => {
  browser = await launch()
})
after(async () => {
  await browser?.close()
})

test('log in, then land on the dashboard', async () => {
  session = await newPage(browser)
  const { page } = session
  await page.goto(UI)
  await page.waitForURL(/\/login/)
  console.log(`first load on loopback: ${JSON.stringify(await firstLoad(page))}`)
  await login(page, `${PASSWORD}-wrong`)
  await page.locator('[data-test=login-error]').waitFor()
  await login(page)
  await page.waitForURL((u) => u.pathname === '/admin/ui/')
  await page.locator('[data-test=card-allowed]').waitFor()
})

const K1 = `sk-e2e${randomBytes(12).toString('hex')}`
let k1Id = ''
let k1Hint = ''

test('a binding made by a proxied request shows on the bindings page', { skip: !PROXY }, async () => {
  const { page } = session
  assert.equal(await proxied(K1, '127.0.0.1', { binds: true }), 200)
  assert.equal(await proxied(K1, '127.0.0.2'), 403, 'a second address is refused while bound to the first')
  const drawer = await findByKey(page, K1)
  k1Id = await bindingId(drawer)
  k1Hint = (await drawer.locator('.el-drawer__title').innerText()).trim()
  assert.ok(k1Hint && !k1Hint.includes(K1), 'the hint is masked')
  await drawer.getByText('127.0.0.1').first().waitFor()
  await closeDrawer(page)
  await page.goto(ui('bindings?ip=127.0.0.1'))
  await rowWithHint(page, k1Hint).waitFor()
})

test('edit the rule to a CIDR and a request from another address inside it passes', { skip: !PROXY }, async () => {
  const { page } = session
  await page.goto(ui('bindings?ip=127.0.0.1'))
  const row = rowWithHint(page, k1Hint)
  await row.locator('[data-test=act-edit]').click()
  const dialog = page.locator('.el-dialog').filter({ hasText: k1Hint })
  await dialog.waitFor()
  await dialog.locator('[data-test=rule-kind-single]').click()
  // A malformed CIDR gets the server's 422 message next to the field (client check bypassed by a well-formed but invalid one).
  await dialog.locator('[data-test=rule-prefix-0]').fill('127.0.0.0/33')
  await dialog.locator('[data-test=rule-save]').click()
  await dialog.locator('.el-form-item__error').first().waitFor()
  await shot(page, 'rule-editor-422-en-light')
  await dialog.locator('[data-test=rule-prefix-0]').fill('127.0.0.0/24')
  await dialog.locator('[data-test=rule-save]').click()
  await dialog.waitFor({ state: 'hidden' })
  await row.getByText('127.0.0.0/24').waitFor()
  await eventually('request from 127.0.0.2 inside the CIDR', async () => (await proxied(K1, '127.0.0.2')) === 200)
})

test('ban and unban', { skip: !PROXY }, async () => {
  const { page } = session
  await page.goto(ui('bindings?ip=127.0.0.1'))
  const row = rowWithHint(page, k1Hint)
  await row.locator('[data-test=act-ban]').click()
  await confirmBox(page)
  await row.locator('[data-test=binding-status]').filter({ hasText: /Banned|已封禁/ }).waitFor()
  await eventually('banned key refused', async () => (await proxied(K1, '127.0.0.1')) === 403)
  await row.locator('[data-test=act-unban]').click()
  await confirmBox(page)
  await row.locator('[data-test=binding-status]').filter({ hasText: /Active|正常/ }).waitFor()
  await eventually('unbanned key allowed', async () => (await proxied(K1, '127.0.0.1')) === 200)
})

test('the detail drawer shows recent intercepts and audit entries', { skip: !PROXY }, async () => {
  const { page } = session
  await page.goto(ui(`bindings?id=${encodeURIComponent(k1Id)}`))
  const drawer = page.locator('.el-drawer').filter({ has: page.locator('.el-descriptions') })
  await drawer.waitFor()
  await drawer.locator('[data-test=drawer-intercepts] tr.el-table__row').first().waitFor()
  await drawer.locator('[data-test=drawer-audit]').waitFor()
  await shot(page, 'binding-drawer-en-light')
  await closeDrawer(page)
})

test('unbind, and the next use from a new address binds afresh', { skip: !PROXY }, async () => {
  const { page } = session
  await page.goto(ui('bindings?ip=127.0.0.1'))
  const row = rowWithHint(page, k1Hint)
  await row.locator('[data-test=act-unbind]').click()
  await confirmBox(page)
  await row.waitFor({ state: 'detached' })
  await eventually('fresh binding from 127.0.0.2', async () => (await proxied(K1, '127.0.0.2', { binds: true })) === 200)
  const drawer = await findByKey(page, K1)
  await drawer.getByText('127.0.0.2').first().waitFor()
  await closeDrawer(page)
})

test('filter logs by subnet and export CSV with the same filter', { skip: !PROXY }, async () => {
  const { page } = session
  // K1 is now bound to 127.0.0.2: a request from 127.0.0.1 is refused and logged.
  assert.equal(await proxied(K1, '127.0.0.1'), 403)
  await page.goto(ui('logs'))
  await page.locator('[data-test=logs-ip]').fill('127.0.0.0/24')
  await page.locator('[data-test=logs-apply]').click()
  await page.waitForURL(/ip=127\.0\.0\.0(%2F|\/)24/)
  // Every refusal so far came from 127.0.0.x; intercepts are written asynchronously, so
  // reload until the filtered list counts them all.
  const total = async () => Number((await page.locator('.pager .el-pagination__total').innerText()).replace(/[^\d]/g, ''))
  await eventually('the filtered list counts every refusal sent', async () => {
    await page.reload()
    await page.locator('[data-test=logs-table]').waitFor()
    await page.waitForLoadState('networkidle')
    return (await total()) === sent.refused || { listed: await total(), sent: sent.refused }
  })
  const ips = await page.locator('[data-test=logs-table] [data-test=log-ip]').allInnerTexts()
  assert.ok(ips.length > 0 && ips.every((ip) => ip.startsWith('127.0.0.')), `rows outside the subnet: ${ips}`)
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('[data-test=logs-export]').click()])
  const csv = await fs.readFile(await download.path(), 'utf8')
  const lines = csv.trim().split(/\r?\n/)
  assert.ok(lines.length >= 2, `csv has a header and rows: ${csv.slice(0, 200)}`)
  assert.ok(lines.slice(1).every((l) => l.includes('127.0.0.')), 'every exported row is inside the subnet')
  assert.equal(lines.length - 1, sent.refused, 'the CSV has one row per refusal sent')
  assert.ok(!csv.includes(K1), 'the export never contains the key')
})

test('enforce → monitor on the settings page and the running proxy follows', { skip: !PROXY }, async () => {
  const { page } = session
  const from3 = () => proxied(K1, '127.0.0.3', { wouldRefuse: true })
  assert.equal(await from3(), 403)
  await page.goto(ui('settings'))
  await page.locator('[data-test=enforce-monitor]').click()
  await page.locator('[data-test=settings-save]').click()
  await page.locator('.el-message--success').waitFor()
  try {
    await eventually('monitor mode lets 127.0.0.3 through', async () => (await from3()) === 200, 3000)
  } finally {
    await page.locator('[data-test=enforce-enforce]').click()
    await page.locator('[data-test=settings-save]').click()
  }
  await eventually('enforce mode refuses 127.0.0.3 again', async () => (await from3()) === 403, 3000)
})

test('bulk ban of selected rows', { skip: !PROXY }, async () => {
  const { page } = session
  const keys = [0, 1].map(() => `sk-e2e${randomBytes(12).toString('hex')}`)
  for (const k of keys) assert.equal(await proxied(k, '127.0.0.1', { binds: true }), 200)
  await page.goto(ui('bindings?ip=127.0.0.1&status=active'))
  const rows = page.locator('[data-test=bindings-table] .el-table__body-wrapper tr.el-table__row')
  await rows.first().waitFor()
  const n = Math.min(2, await rows.count())
  for (let i = 0; i < n; i++) await rows.nth(i).locator('.el-checkbox').click()
  await page.locator('[data-test=bulk-ban]').click()
  await confirmBox(page)
  await page.locator('.el-message').filter({ hasText: `${n} done` }).waitFor()
})

test('the webhook test sends a sample alert and shows the receiver\'s answer', { skip: !process.env.SENTINEL_E2E_HOOK_URL }, async () => {
  const { page } = session
  await page.goto(ui('settings'))
  await page.locator('[data-test=webhook-url]').fill(process.env.SENTINEL_E2E_HOOK_URL)
  await page.locator('[data-test=webhook-test]').click()
  const msg = page.locator('.el-message--success').filter({ hasText: /HTTP 200/ })
  await msg.waitFor()
  // Messages are styled (their CSS is not pulled in by the on-demand resolver): a floating toast.
  assert.equal(await msg.evaluate((e) => getComputedStyle(e).position), 'fixed')
  await shot(page, 'settings-webhook-test-en-light')
  await page.locator('[data-test=webhook-url]').fill('')
})

test('the archived view lists archived bindings (none yet) with the restore column', async () => {
  const { page } = session
  await page.goto(ui('bindings'))
  await page.locator('[data-test=view-archived]').click()
  await page.waitForURL(/view=archived/)
  await page.locator('[data-test=bindings-table] .el-table__empty-block').waitFor()
  await page.getByText(/Archived|归档时间/).first().waitFor()
  await shot(page, 'bindings-archived-en-light')
  await page.locator('[data-test=view-current]').click()
  await page.waitForURL((u) => !u.search.includes('view='))
})

test('the dashboard counts what the scenarios sent', { skip: !PROXY }, async () => {
  const { page } = session
  const card = async (k) => Number((await page.locator(`[data-test=card-${k}] .stat-value`).innerText()).replace(/[^\d]/g, ''))
  // The tally flushes every second: reload until the cards show everything.
  await eventually(
    'dashboard cards',
    async () => {
      await page.goto(ui(''))
      await page.locator('[data-test=card-allowed] .stat-value').waitFor()
      await page.waitForLoadState('networkidle')
      const got = { allowed: await card('allowed'), refused: await card('refused'), newBindings: await card('new') }
      return JSON.stringify(got) === JSON.stringify(sent) || { got, sent }
    },
    8000,
  )
  assert.equal(await card('total'), 3, 'K1 (bound afresh after the unbind) and the two bulk-banned keys')
})

test('session expiry sends the user to login and then back to where they were', async () => {
  const { page } = session
  await page.goto(ui('logs?ip=10.0.0.0%2F8'))
  await page.locator('[data-test=logs-table]').waitFor()
  await page.evaluate(() => {
    const s = JSON.parse(sessionStorage.getItem('sentinel.session'))
    sessionStorage.setItem('sentinel.session', JSON.stringify({ ...s, token: 'expired.or.revoked' }))
  })
  await page.reload()
  await page.waitForURL(/\/login\?/)
  await page.getByText(/session expired|会话已过期/).waitFor()
  await login(page)
  await page.waitForURL((u) => u.pathname === '/admin/ui/logs' && u.searchParams.get('ip') === '10.0.0.0/8')
})

test('language and theme switch and are remembered after a reload', async () => {
  const { page } = session
  await page.goto(ui('bindings'))
  await page.locator('[data-test=locale]').click()
  await page.getByRole('option', { name: '中文' }).click()
  await page.locator('[data-test=theme]').click()
  await page.reload()
  await page.getByRole('heading', { name: '绑定' }).waitFor()
  assert.equal(await page.evaluate(() => document.documentElement.classList.contains('dark')), true)
  await setPrefs(page, 'en', 'light')
  await page.getByRole('heading', { name: 'Bindings' }).waitFor()
})

test('screenshots of every page in both languages and themes', async () => {
  const { page } = session
  const pages = [
    ['dashboard', ''],
    ['bindings', 'bindings'],
    ['logs', 'logs'],
    ['settings', 'settings'],
    ['audit', 'audit'],
  ]
  for (const [l, t] of COMBOS) {
    for (const [name, path] of pages) {
      await page.goto(ui(path))
      await setPrefs(page, l, t)
      await page.locator('.page-title').waitFor()
      await shot(page, `${name}-${l}-${t}`)
    }
    await page.goto(ui('bindings'))
    await page.locator('[data-test=act-edit]').first().click().catch(() => {})
    await shot(page, `rule-editor-${l}-${t}`)
    await page.keyboard.press('Escape')
  }
  const phone = await browser.newContext({ viewport: PHONE, storageState: await session.context.storageState() })
  const p = await phone.newPage()
  // sessionStorage is per tab: carry the session over.
  const saved = await page.evaluate(() => sessionStorage.getItem('sentinel.session'))
  await p.goto(ui('login'))
  await p.evaluate((s) => sessionStorage.setItem('sentinel.session', s), saved)
  for (const [l, t] of COMBOS) {
    for (const [name, path] of pages) {
      await p.goto(ui(path))
      await setPrefs(p, l, t)
      await p.locator('.page-title').waitFor()
      await shot(p, `${name}-${l}-${t}-phone`)
    }
  }
  await phone.close()
  await setPrefs(page, 'en', 'light')
  assert.deepEqual(session.errors.filter((e) => !/status of (401|403|404|422)/.test(e)), [])
})

test('wrong password until lockout shows the retry time', { skip: !LOCKOUT }, async () => {
  const { page, context } = await newPage(browser)
  await page.goto(ui('login'))
  await eventually(
    'lockout',
    async () => {
      await login(page, `${PASSWORD}-wrong`)
      await page.locator('[data-test=login-error], [data-test=login-locked]').first().waitFor()
      return (await page.locator('[data-test=login-locked]').count()) === 1
    },
    20_000,
  )
  const text = await page.locator('[data-test=login-locked]').innerText()
  assert.match(text, /Try again in (\d+:\d\d|\d+s)/)
  await shot(page, 'login-locked-en-light')
  await context.close()
})
