// Package attack runs bounded attacks on a binproto server while a
// bystander client makes one request every 10 ms, and reports for each
// attack the rate the attack achieved, the bystander's latency and errors,
// and the server process's peak RSS. It is `binproto attack`.
//
// Every attack is bounded: it runs for Config.Duration, with at most
// Config.Conns connections (or one UDP socket), and closes everything it
// opened before it returns. It is meant for servers you run yourself.
package attack
