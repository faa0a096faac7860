//! Enums chosen by name on the command line (`plan::Policy`, `reduce::Strategy`): each keeps one
//! table of (value, name); its name, its parsing and the list in its error message come from it.

/// The name of `value` in `all`.
///
/// # Panics
/// When `value` is missing from `all`: the table is incomplete, a programming error.
pub(crate) fn name_of<T: Copy + PartialEq>(all: &[(T, &'static str)], value: T) -> &'static str {
    all.iter()
        .find(|(v, _)| *v == value)
        .map(|(_, n)| *n)
        .expect("every value has a name")
}

/// The value named `name` in `all`.
pub(crate) fn by_name<T: Copy>(all: &[(T, &'static str)], name: &str) -> Option<T> {
    all.iter().find(|(_, n)| *n == name).map(|(v, _)| *v)
}

/// The names, for an error message: `a, b, c`.
pub(crate) fn listed<T>(all: &[(T, &'static str)]) -> String {
    all.iter().map(|(_, n)| *n).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use crate::farm::Policy;
    use crate::reduce::Strategy;

    #[test]
    fn every_name_parses_back_and_unknown_names_list_the_choices() {
        for (p, n) in Policy::ALL {
            assert_eq!((p.name(), n.parse::<Policy>().unwrap()), (n, p));
        }
        for (s, n) in Strategy::ALL {
            assert_eq!((s.name(), n.parse::<Strategy>().unwrap()), (n, s));
        }
        assert_eq!(
            "fifo".parse::<Policy>().unwrap_err().to_string(),
            "unknown schedule 'fifo' (expected one of: lpt, block, cyclic, dynamic)"
        );
        assert_eq!(
            "fast".parse::<Strategy>().unwrap_err().to_string(),
            "unknown reduction 'fast' (expected one of: tree, linear, native)"
        );
    }
}
