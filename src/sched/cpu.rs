//! Which CPU a run's threads use (`--pin_cpu`). By default the scheduler decides, as for
//! upstream's threads. A run alone on an idle machine is steadier on one CPU (`start`, which
//! the suite uses for runs alone): the kernel arms a timer (a delayed ACK, an RTO) on the CPU
//! that handled the packet or call, and on a CPU that does not keep jiffies its tick can read
//! jiffies before they advance and leave the timer for the next tick, 4 ms late at HZ=250; with
//! the run on one CPU, that CPU keeps jiffies itself. Runs side by side are better spread: kept
//! to one CPU, a run cannot escape another's work there (a namespace torn down next to it made
//! an injection 13 ms late).

use nix::sched::{sched_getaffinity, sched_getcpu, sched_setaffinity, CpuSet};
use nix::unistd::Pid;

use crate::cli::CpuPin;

/// The CPUs this process may run on, in ascending order.
pub fn allowed_cpus() -> Vec<usize> {
    let Ok(set) = sched_getaffinity(Pid::from_raw(0)) else {
        return Vec::new();
    };
    (0..CpuSet::count())
        .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
        .collect()
}

/// Pins the calling thread, and so every thread and process it starts afterwards, as `pin`
/// says. `kernel` is whether the stack under test is the kernel: `start` pins only those runs,
/// since a userspace stack runs on its own virtual clock. Pinning to the current CPU is
/// best effort (a process confined to one CPU has nothing to choose); an explicit CPU the
/// process may not use is an error naming the flag.
pub fn pin_run(pin: CpuPin, kernel: bool) -> Result<(), String> {
    let cpu = match pin {
        CpuPin::Off => return Ok(()),
        CpuPin::StartingCpu if !kernel => return Ok(()),
        CpuPin::StartingCpu => match sched_getcpu() {
            Ok(current) if allowed_cpus().len() >= 2 => current,
            _ => return Ok(()),
        },
        CpuPin::Cpu(cpu) => {
            let allowed = allowed_cpus();
            if !allowed.contains(&cpu) {
                return Err(format!(
                    "--pin_cpu={cpu}: this process may not run on CPU {cpu} (it may use {})",
                    describe_cpus(&allowed)
                ));
            }
            cpu
        }
    };
    let mut set = CpuSet::new();
    set.set(cpu)
        .and_then(|()| sched_setaffinity(Pid::from_raw(0), &set))
        .map_err(|e| format!("--pin_cpu={cpu}: cannot move to CPU {cpu}: {e}"))
}

/// `0-3,6` style, as taskset and /sys print CPU lists.
fn describe_cpus(cpus: &[usize]) -> String {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for &cpu in cpus {
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == cpu => *end = cpu,
            _ => ranges.push((cpu, cpu)),
        }
    }
    if ranges.is_empty() {
        return "none".to_string();
    }
    ranges
        .iter()
        .map(|(start, end)| {
            if start == end {
                start.to_string()
            } else {
                format!("{start}-{end}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_read_like_taskset() {
        assert_eq!(describe_cpus(&[0, 1, 2, 3, 6]), "0-3,6");
        assert_eq!(describe_cpus(&[1]), "1");
        assert_eq!(describe_cpus(&[0, 2, 3]), "0,2-3");
        assert_eq!(describe_cpus(&[]), "none");
    }
}
