import { computed } from 'vue'
import { useI18n } from 'vue-i18n'

/** useFormat formats times and numbers in the console's language. */
export function useFormat() {
  const { locale } = useI18n()
  const nf = computed(() => new Intl.NumberFormat(locale.value === 'zh' ? 'zh-CN' : 'en-US'))
  function time(v: string | null | undefined): string {
    if (!v) return '—'
    const d = new Date(v)
    if (Number.isNaN(d.getTime()) || d.getUTCFullYear() < 1971) return '—'
    // One compact, unambiguous local format in both languages: 2026-12-01 08:49:24.
    const p = (n: number) => String(n).padStart(2, '0')
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
  }
  function num(v: number | null | undefined): string {
    return nf.value.format(v ?? 0)
  }
  return { time, num }
}
