// Package bench is the measuring harness of the service: it seeds a data
// set straight through SQL, builds and starts the real binary, a bare echo
// ceiling in a process of its own and atlassian-connect-express as a peer
// (bench/ace, Node), plays Forge's JWKS and invocation tokens, drives them
// over loopback with a bounded load generator and SSE subscribers, reads
// the processes' CPU and memory from /proc, takes the app's profiles
// through its loopback pprof listener, and kills replicas and the database
// to check what survives. The commands under bench/cmd run it; nothing
// here is imported by the service.
package bench
