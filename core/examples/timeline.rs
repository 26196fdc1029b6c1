//! Walks a breaker through the timeline of docs/semantics.md on a manual clock, printing every
//! call, rejection and transition. Run: `cargo run -p circuit-core --example timeline`.

use std::time::Duration;

use circuit::{CircuitBreaker, Config, ManualClock};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clock = ManualClock::new();
    let config = Config::builder()
        .name("inventory")
        .failure_threshold(3)
        .reset_timeout(Duration::from_secs(10))
        .backoff_multiplier(2.0)
        .build()?;
    let breaker = CircuitBreaker::with_clock(config, clock.clone());
    breaker.on_transition(|t| println!("           event: {} -> {} ({}) at {:?}", t.from, t.to, t.reason, t.at));

    let call = |label: &str, fails: bool| match breaker.allow() {
        Ok(permit) => {
            let probe = if permit.is_probe() { " (probe)" } else { "" };
            let result = if fails { breaker.record_failure(permit) } else { breaker.record_success(permit) };
            let counted = if result.map(|r| r.counted()).unwrap_or(false) { "counted" } else { "stale" };
            println!("{:>8.1?}  {label}{probe}: {} [{counted}]", clock.now(), if fails { "failed" } else { "ok" });
        }
        Err(rejected) => println!("{:>8.1?}  {label}: {rejected}", clock.now()),
    };

    for _ in 0..3 {
        call("call", true);
    }
    clock.advance(Duration::from_secs(4));
    call("call", false);
    clock.advance(Duration::from_secs(8));
    call("call", true);
    clock.advance(Duration::from_secs(21));
    call("call", false);
    call("call", false);
    let m = breaker.metrics();
    println!(
        "\nstate {}, generation {}, admitted {}, rejected {}, failures {}, opened {}",
        m.state, m.generation, m.admitted, m.rejected, m.failures, m.opened
    );
    Ok(())
}
