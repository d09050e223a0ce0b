//! The machine's floor for a TCP check: a bare loopback `connect` + `close` to each of COUNT
//! ports from FIRST_PORT, ROUNDS times, with the CPU time this process spent per connection
//! (user + system, from /proc/self/stat). The benchmarks print it beside the daemon's CPU per
//! tcp check, measured in the same run against the same listeners.
//!
//! Usage: keel-test-connect FIRST_PORT COUNT ROUNDS

use std::net::{Ipv4Addr, TcpStream};

fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("stat")
        .1
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| {
            a.parse()
                .expect("usage: keel-test-connect FIRST_PORT COUNT ROUNDS")
        })
        .collect();
    let [first, count, rounds] = args[..] else {
        panic!("usage: keel-test-connect FIRST_PORT COUNT ROUNDS");
    };
    // USER_HZ is 100 on Linux.
    let tick_us = 10_000.0;
    let before = cpu_ticks();
    let mut failed = 0;
    for _ in 0..rounds {
        for port in first..first + count {
            match TcpStream::connect((Ipv4Addr::LOCALHOST, port as u16)) {
                Ok(conn) => drop(conn),
                Err(_) => failed += 1,
            }
        }
    }
    let spent = (cpu_ticks() - before) as f64 * tick_us;
    let n = rounds * count;
    println!(
        "connects {n} failed {failed} cpu_us_per_connect {:.1}",
        spent / n as f64
    );
}
