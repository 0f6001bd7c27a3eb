// Smoke test of the built console without any API: serves dist/ with
// `vite preview` (or uses SENTINEL_UI_URL), checks the login page renders,
// deep links land on login with a redirect, and language and theme switches
// survive a reload. Screenshots of the login page in every combination.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { launch, newPage, shot, setPrefs, COMBOS, PHONE, firstLoad } from './browser.mjs'

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
let server
let base = process.env.SENTINEL_UI_URL
let browser

async function waitFor(url, deadlineMs) {
  const until = Date.now() + deadlineMs
  for (;;) {
    try {
      const r = await fetch(url)
      if (r.ok) return
    } catch {
      // not up yet
    }
    if (Date.now() > until) throw new Error(`${url} did not answer`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

before(async () => {
  if (!base) {
    const port = 4173 + Math.floor(Math.random() * 1000)
    server = spawn(path.join(root, 'node_modules/.bin/vite'), ['preview', '--port', String(port), '--strictPort', '--host', '127.0.0.1'], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
    })
    base = `http://127.0.0.1:${port}/admin/ui/`
  }
  await waitFor(base, 20_000)
  browser = await launch()
})

after(async () => {
  await browser?.close()
  server?.kill()
})

test('a deep link without a session lands on login with a redirect back', async () => {
  const { page, context, errors } = await newPage(browser)
  await page.goto(new URL('bindings?status=banned', base).href)
  await page.waitForURL(/\/admin\/ui\/login\?redirect=/)
  const u = new URL(page.url())
  assert.equal(u.searchParams.get('redirect'), '/bindings?status=banned')
  await page.locator('[data-test=password]').waitFor()
  assert.deepEqual(errors, [])
  await context.close()
})

test('login page renders and reports its first load', async () => {
  const { page, context, errors } = await newPage(browser)
  await page.goto(new URL('login', base).href)
  await page.getByRole('heading', { name: 'Sign in to Sentinel' }).waitFor()
  const timing = await firstLoad(page)
  console.log(`first load of the login page on loopback: ${JSON.stringify(timing)}`)
  // Hashed assets under /admin/ui/assets/.
  const scripts = await page.locator('script[type=module]').evaluateAll((els) => els.map((e) => e.getAttribute('src')))
  assert.ok(scripts.every((s) => /^\/admin\/ui\/assets\/index-[\w-]+\.js$/.test(s)), `scripts: ${scripts}`)
  assert.deepEqual(errors, [])
  await context.close()
})

test('language and theme are switchable and remembered after a reload', async () => {
  const { page, context, errors } = await newPage(browser)
  await page.goto(new URL('login', base).href)
  await page.evaluate(() => localStorage.clear())
  await page.reload()
  await page.getByRole('heading', { name: 'Sign in to Sentinel' }).waitFor()
  assert.equal(await page.evaluate(() => document.documentElement.classList.contains('dark')), false)

  await page.locator('[data-test=locale]').click()
  await page.getByRole('option', { name: '中文' }).click()
  await page.getByRole('heading', { name: '登录 Sentinel' }).waitFor()
  await page.locator('[data-test=theme]').click()
  assert.equal(await page.evaluate(() => document.documentElement.classList.contains('dark')), true)

  await page.reload()
  await page.getByRole('heading', { name: '登录 Sentinel' }).waitFor()
  assert.equal(await page.evaluate(() => document.documentElement.classList.contains('dark')), true)
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'zh-CN')
  // Element Plus speaks the same language (its own locale is switched too).
  assert.equal(await page.getByRole('button', { name: '登录' }).count(), 1)

  await page.locator('[data-test=locale]').click()
  await page.getByRole('option', { name: 'English' }).click()
  await page.locator('[data-test=theme]').click()
  await page.reload()
  await page.getByRole('heading', { name: 'Sign in to Sentinel' }).waitFor()
  assert.equal(await page.evaluate(() => document.documentElement.classList.contains('dark')), false)
  assert.deepEqual(errors, [])
  await context.close()
})

test('the empty-password check speaks before any request', async () => {
  const { page, context } = await newPage(browser)
  await page.goto(new URL('login', base).href)
  await page.locator('[data-test=login-submit]').click()
  await page.locator('[data-test=login-error]').getByText('Enter the admin password').waitFor()
  await context.close()
})

test('screenshots of the login page in both languages and themes, desktop and phone', async () => {
  for (const viewport of [undefined, PHONE]) {
    const { page, context } = await newPage(browser, viewport ? { viewport } : {})
    await page.goto(new URL('login', base).href)
    for (const [l, t] of COMBOS) {
      await setPrefs(page, l, t)
      await page.locator('[data-test=password]').waitFor()
      await shot(page, `login-${l}-${t}${viewport ? '-phone' : ''}`)
    }
    await context.close()
  }
})
