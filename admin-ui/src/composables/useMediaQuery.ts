import { onBeforeUnmount, ref, type Ref } from 'vue'

/** useMediaQuery tracks a CSS media query, e.g. the phone-size breakpoint. */
export function useMediaQuery(query: string): Ref<boolean> {
  const mql = window.matchMedia(query)
  const matches = ref(mql.matches)
  const onChange = (e: MediaQueryListEvent) => (matches.value = e.matches)
  mql.addEventListener('change', onChange)
  onBeforeUnmount(() => mql.removeEventListener('change', onChange))
  return matches
}

/** useIsPhone is true on screens narrower than 768 px. */
export function useIsPhone(): Ref<boolean> {
  return useMediaQuery('(max-width: 767px)')
}
