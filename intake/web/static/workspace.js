// NHS.UK frontend's progressive enhancements. A module file rather than the template's inline script, so the
// Content-Security-Policy can forbid inline scripts; every page works without it.
import { initAll } from '/assets/nhsuk-frontend.min.js'

document.body.classList.add('js-enabled', 'nhsuk-frontend-supported')
initAll()
