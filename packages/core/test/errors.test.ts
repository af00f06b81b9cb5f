import {
  InvalidShardHashError,
  NSN_ERROR as REGISTRY_NSN_ERROR,
  InvalidOptionError as RegistryInvalidOptionError,
  ShardRegistry,
} from '@nsn/shard-registry'
import { describe, expect, it } from 'vitest'
import {
  InvalidShardKeyError,
  isNsnError,
  NoKnownPeersError,
  NSN_ERROR,
  NsnError,
  parseShardKey,
  QueryTimeoutError,
} from '../src/index.js'

describe('the NSN error convention', () => {
  it('brands errors with the registered symbol @nsn/error, shared with the shard registry', () => {
    expect(NSN_ERROR).toBe(Symbol.for('@nsn/error'))
    expect(REGISTRY_NSN_ERROR).toBe(NSN_ERROR)
    const err = new QueryTimeoutError(10_000)
    expect(err).toBeInstanceOf(NsnError)
    expect(err[NSN_ERROR]).toBe(true)
    expect(Object.getOwnPropertySymbols(err)).toEqual([]) // on the prototype: nothing to serialise
    expect(JSON.parse(JSON.stringify(err.toObject()))).toEqual({
      name: 'QueryTimeoutError',
      code: 'ERR_QUERY_TIMEOUT',
      message: 'DHT query timeout',
    })
  })

  it('isNsnError recognises core errors, by code when one is given', () => {
    const err = new NoKnownPeersError()
    expect(isNsnError(err)).toBe(true)
    expect(isNsnError(err, 'ERR_NO_KNOWN_PEERS')).toBe(true)
    expect(isNsnError(err, 'ERR_QUERY_TIMEOUT')).toBe(false)
    let thrown: unknown
    try {
      parseShardKey('nope')
    } catch (e) {
      thrown = e
    }
    expect(thrown).toBeInstanceOf(InvalidShardKeyError)
    expect(isNsnError(thrown, 'ERR_INVALID_SHARD_KEY')).toBe(true)
  })

  it('isNsnError recognises the shard registry errors, which do not depend on core', async () => {
    let thrown: unknown
    try {
      await new ShardRegistry().has(new Uint8Array(3))
    } catch (e) {
      thrown = e
    }
    expect(thrown).toBeInstanceOf(InvalidShardHashError)
    expect(thrown).not.toBeInstanceOf(NsnError)
    expect(isNsnError(thrown, 'ERR_INVALID_SHARD_HASH')).toBe(true)
    const option = new RegistryInvalidOptionError('capacity', 0, 'must be >= 1')
    expect(isNsnError(option, 'ERR_INVALID_OPTION')).toBe(true)
    expect(option.toObject()).toEqual({
      name: option.name,
      code: 'ERR_INVALID_OPTION',
      message: option.message,
    })
  })

  it('an error that merely has a code, or a brand without a string code, is not an NSN error', () => {
    expect(isNsnError(Object.assign(new Error('x'), { code: 'ERR_QUERY_TIMEOUT' }))).toBe(false)
    expect(isNsnError({ code: 'ERR_QUERY_TIMEOUT', name: 'QueryTimeoutError', message: 'x' })).toBe(false)
    expect(isNsnError({ [Symbol.for('@nsn/error')]: true, code: 42 })).toBe(false)
    expect(isNsnError({ [Symbol.for('@nsn/error')]: 'yes', code: 'ERR_X' })).toBe(false)
    for (const value of [undefined, null, 'ERR_QUERY_TIMEOUT', 42]) expect(isNsnError(value)).toBe(false)
  })

  it('a brand from another copy of the convention is recognised', () => {
    class ForeignNsnError extends Error {
      readonly code = 'ERR_SOMETHING_ELSE'
      get [Symbol.for('@nsn/error')](): true {
        return true
      }
    }
    expect(isNsnError(new ForeignNsnError('x'), 'ERR_SOMETHING_ELSE')).toBe(true)
  })
})
