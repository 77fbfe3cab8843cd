import {parseCutoff, utcWithOffset} from '../../src/cutoff.js'
import {RollbackError} from '../../src/errors.js'

describe('parseCutoff', () => {
  it('keeps microseconds exactly, without a Date round trip', () => {
    expect(parseCutoff('2024-10-24T08:23:45.123456Z').utc).toBe('2024-10-24T08:23:45.123456Z')
    expect(parseCutoff('2024-10-24T08:23:45.000999Z').utc).toBe('2024-10-24T08:23:45.000999Z')
    expect(parseCutoff('2024-10-24 08:23:45,5').utc).toBe('2024-10-24T08:23:45.500000Z')
  })

  it('reads a datetime without an offset as UTC and says so', () => {
    const cutoff = parseCutoff('2024-10-24 08:23:45')
    expect(cutoff).toEqual({input: '2024-10-24 08:23:45', utc: '2024-10-24T08:23:45.000000Z', assumedUtc: true})
    expect(parseCutoff('2024-10-24T08:23:45Z').assumedUtc).toBe(false)
  })

  it('converts offsets to UTC across day, month and year boundaries', () => {
    expect(parseCutoff('2024-10-24T01:30:00.25+02:00').utc).toBe('2024-10-23T23:30:00.250000Z')
    expect(parseCutoff('2023-12-31T22:00:00-0330').utc).toBe('2024-01-01T01:30:00.000000Z')
    expect(parseCutoff('2024-03-01T00:15:00+01').utc).toBe('2024-02-29T23:15:00.000000Z')
  })

  it('accepts a date alone as midnight UTC, and minutes without seconds', () => {
    expect(parseCutoff('2024-10-24').utc).toBe('2024-10-24T00:00:00.000000Z')
    expect(parseCutoff('2024-10-24T08:23').utc).toBe('2024-10-24T08:23:00.000000Z')
  })

  it.each([
    ['yesterday', 'is not an ISO 8601 datetime'],
    ['24/10/2024 08:23', 'is not an ISO 8601 datetime'],
    ['2024-02-30T00:00:00Z', 'has day 30, and 2024-02 has 29 days'],
    ['2024-13-01T00:00:00Z', 'has month 13'],
    ['2024-10-24T24:00:00Z', 'has time 24:00:00'],
    ['2024-10-24T08:23:45.1234567Z', 'more than 6 fractional digits'],
    ['2024-10-24T08:23:45+16:00', 'has offset +16:00'],
    ["2024-10-24'; DROP TABLE django_migrations; --", 'is not an ISO 8601 datetime']
  ])('rejects %j naming the input and the expected form', (raw, why) => {
    let error: unknown
    try {
      parseCutoff(raw)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(RollbackError)
    expect((error as RollbackError).kind).toBe('input')
    expect((error as Error).message).toContain('target-datetime')
    expect((error as Error).message).toContain(why)
    expect((error as Error).message).toContain('expected ISO 8601 such as 2024-10-24T08:23:45Z')
  })

  it('gives Python fromisoformat a +00:00 offset', () => {
    expect(utcWithOffset('2024-10-24T08:23:45.123456Z')).toBe('2024-10-24T08:23:45.123456+00:00')
  })
})
