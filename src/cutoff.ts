import type {Cutoff} from './config.js'
import {inputError, type RollbackError} from './errors.js'

const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/

const EXPECTED = 'expected ISO 8601 such as 2024-10-24T08:23:45Z, 2024-10-24 08:23:45.123456+02:00 or 2024-10-24 (no offset means UTC)'

const pad = (value: number, width: number): string => String(value).padStart(width, '0')

/**
 * Parses `target-datetime` into a UTC string with microseconds. Done with
 * integers, never through a JavaScript Date's milliseconds: django_migrations
 * keeps microseconds and a cutoff rounded by a millisecond can move a migration
 * across it.
 */
export function parseCutoff(raw: string, inputName = 'target-datetime'): Cutoff {
  const text = raw.trim()
  const match = ISO_8601.exec(text)
  const bad = (why: string): RollbackError => inputError(`${inputName} ${JSON.stringify(raw)} ${why}: ${EXPECTED}`)
  if (!match) throw bad('is not an ISO 8601 datetime')

  const [, y, mo, d, h = '00', mi = '00', s = '00', fraction = '', offset] = match
  const year = Number(y)
  const month = Number(mo)
  const day = Number(d)
  const hour = Number(h)
  const minute = Number(mi)
  const second = Number(s)
  if (fraction.length > 6) throw bad('has more than 6 fractional digits (PostgreSQL keeps microseconds)')
  if (year < 1970) throw bad('is before 1970')
  if (month < 1 || month > 12) throw bad(`has month ${mo}`)
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate()
  if (day < 1 || day > daysInMonth) throw bad(`has day ${d}, and ${y}-${mo} has ${daysInMonth} days`)
  if (hour > 23 || minute > 59 || second > 59) throw bad(`has time ${h}:${mi}:${s}`)

  let offsetMinutes = 0
  if (offset && offset.toUpperCase() !== 'Z') {
    const sign = offset.startsWith('-') ? -1 : 1
    const digits = offset.slice(1).replace(':', '')
    const offsetHours = Number(digits.slice(0, 2))
    const offsetMins = digits.length > 2 ? Number(digits.slice(2, 4)) : 0
    if (offsetHours > 15 || offsetMins > 59) throw bad(`has offset ${offset}`)
    offsetMinutes = sign * (offsetHours * 60 + offsetMins)
  }

  // Whole seconds only, so the Date arithmetic here is exact; the microseconds are appended as digits.
  const utc = new Date(Date.UTC(year, month - 1, day, hour, minute - offsetMinutes, second))
  const micros = fraction.padEnd(6, '0')
  const iso =
    `${pad(utc.getUTCFullYear(), 4)}-${pad(utc.getUTCMonth() + 1, 2)}-${pad(utc.getUTCDate(), 2)}` +
    `T${pad(utc.getUTCHours(), 2)}:${pad(utc.getUTCMinutes(), 2)}:${pad(utc.getUTCSeconds(), 2)}.${micros}Z`
  return {input: text, utc: iso, assumedUtc: offset === undefined}
}

/** `2024-10-24T08:23:45.000000Z` -> `2024-10-24T08:23:45.000000+00:00`, the form Python's fromisoformat reads (3.7+). */
export function utcWithOffset(utc: string): string {
  return utc.replace(/Z$/, '+00:00')
}
