"""Throttling a rollout instead of cancelling it: the record of what the guard set (`records`), UpdateJob's
arithmetic (`rollout`), the use case (`use_case`), the timer that watches every throttle (`timers`, `watchdog`,
`timer_check`)."""
