// Shared e2e helpers: Debian's Chromium driven by playwright-core (never a
// downloaded browser), screenshots into e2e/screenshots/ (not committed).
import { chromium } from 'playwright-core'
import fs from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))

/** SCREENSHOTS is where every run saves its pictures (git-ignored). */
export const SCREENSHOTS = process.env.SENTINEL_E2E_SCREENSHOTS ?? path.join(here, 'screenshots')

/** CHROMIUM is the browser binary; Debian's package puts it here. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/**
 * launch starts a headless Chromium with a fresh profile (playwright's launch
 * makes a new temporary user-data-dir each time) and the flags that keep it
 * quiet on a closed network.
 */
export async function launch() {
  await fs.mkdir(SCREENSHOTS, { recursive: true })
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--headless',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}

/** DESKTOP and PHONE are the two screen sizes the console must work at. */
export const DESKTOP = { width: 1280, height: 800 }
export const PHONE = { width: 390, height: 844 }

/**
 * newPage opens a page in a fresh context and collects console errors and
 * uncaught exceptions so a test can assert there were none.
 */
export async function newPage(browser, { viewport = DESKTOP, baseURL } = {}) {
  const context = await browser.newContext({ viewport, baseURL, acceptDownloads: true })
  const page = await context.newPage()
  const errors = []
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`))
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`)
  })
  return { context, page, errors }
}

/** shot saves a full-page screenshot named after what it shows. */
export async function shot(page, name) {
  await page.waitForLoadState('networkidle').catch(() => {})
  // Let Element Plus transitions (200-300 ms) settle so pictures are not mid-fade.
  await page.waitForTimeout(350)
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true })
}

/** setPrefs stores language and theme the way the console remembers them, then reloads. */
export async function setPrefs(page, locale, theme) {
  await page.evaluate(
    ([l, t]) => {
      localStorage.setItem('sentinel.locale', l)
      localStorage.setItem('sentinel.theme', t)
    },
    [locale, theme],
  )
  await page.reload()
}

/** COMBOS lists every language × theme a screenshot is taken in. */
export const COMBOS = [
  ['en', 'light'],
  ['en', 'dark'],
  ['zh', 'light'],
  ['zh', 'dark'],
]

/** firstLoad reads the browser's navigation timing of the current page, in ms. */
export async function firstLoad(page) {
  return page.evaluate(() => {
    const [nav] = performance.getEntriesByType('navigation')
    const fcp = performance.getEntriesByName('first-contentful-paint')[0]
    return {
      ttfb: Math.round(nav.responseStart - nav.startTime),
      domContentLoaded: Math.round(nav.domContentLoadedEventEnd - nav.startTime),
      load: Math.round(nav.loadEventEnd - nav.startTime),
      firstContentfulPaint: fcp ? Math.round(fcp.startTime) : null,
      transferKB: Math.round(
        performance.getEntriesByType('resource').reduce((s, r) => s + (r.transferSize || 0), nav.transferSize || 0) / 1024,
      ),
    }
  })
}
