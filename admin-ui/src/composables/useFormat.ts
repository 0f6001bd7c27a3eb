import { computed } from 'vue'
import { useI18n } from 'vue-i18n'

/** useFormat formats times and numbers in the console's language. */
export function useFormat() {
  const { locale } = useI18n()
  const dtf = computed(
    () => new Intl.DateTimeFormat(locale.value === 'zh' ? 'zh-CN' : 'en-GB', { dateStyle: 'short', timeStyle: 'medium' }),
  )
  const nf = computed(() => new Intl.NumberFormat(locale.value === 'zh' ? 'zh-CN' : 'en-US'))
  function time(v: string | null | undefined): string {
    if (!v) return '—'
    const d = new Date(v)
    return Number.isNaN(d.getTime()) || d.getUTCFullYear() < 1971 ? '—' : dtf.value.format(d)
  }
  function num(v: number | null | undefined): string {
    return nf.value.format(v ?? 0)
  }
  return { time, num }
}
