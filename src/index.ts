import {run} from './main.js'

// The exit status is set by run() through core.setFailed; nothing may escape unhandled.
await run()
