//! WHERE clauses built from optional conditions, for the `Any` driver: each `$n` is numbered as
//! its condition is added (sqlx's `QueryBuilder` writes `?` under `Any`, which PostgreSQL refuses),
//! and status text comes from the enums, bound like any other value.

use sqlx::any::{Any, AnyArguments};
use sqlx::query::{Query, QueryAs, QueryScalar};

use super::DeliveryStatus;
use crate::{PaymentStatus, PayoutStatus};

/// A value a condition binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Param {
    Int(i64),
    Text(String),
}

impl From<i64> for Param {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl From<&str> for Param {
    fn from(value: &str) -> Self {
        Self::Text(value.to_owned())
    }
}

impl From<String> for Param {
    fn from(value: String) -> Self {
        Self::Text(value)
    }
}

impl From<PaymentStatus> for Param {
    fn from(value: PaymentStatus) -> Self {
        Self::Text(value.as_str().to_owned())
    }
}

impl From<PayoutStatus> for Param {
    fn from(value: PayoutStatus) -> Self {
        Self::Text(value.as_string())
    }
}

impl From<DeliveryStatus> for Param {
    fn from(value: DeliveryStatus) -> Self {
        Self::Text(value.as_str().to_owned())
    }
}

/// Conditions joined by `AND`, with their values in placeholder order.
#[derive(Debug, Default, Clone)]
pub(super) struct Filter {
    conditions: Vec<String>,
    params: Vec<Param>,
}

impl Filter {
    /// Adds `condition`, in which `{}` stands for `value`'s placeholder.
    pub(super) fn and(self, condition: &str, value: impl Into<Param>) -> Self {
        self.and_each(condition, [value.into()])
    }

    /// Adds `condition`, in which each `{}` in turn stands for the next of `values`.
    pub(super) fn and_each(mut self, condition: &str, values: impl IntoIterator<Item = Param>) -> Self {
        let mut text = String::with_capacity(condition.len());
        let mut parts = condition.split("{}");
        text.push_str(parts.next().unwrap_or_default());
        let mut values = values.into_iter();
        for part in parts {
            if let Some(value) = values.next() {
                self.params.push(value);
            }
            text.push_str(&format!("${}", self.params.len()));
            text.push_str(part);
        }
        self.conditions.push(text);
        self
    }

    /// Adds `condition` when there is a value for it.
    pub(super) fn and_some<T: Into<Param>>(self, condition: &str, value: Option<T>) -> Self {
        match value {
            Some(value) => self.and(condition, value),
            None => self,
        }
    }

    /// Adds a condition that binds nothing.
    pub(super) fn and_sql(mut self, condition: &str) -> Self {
        self.conditions.push(condition.to_owned());
        self
    }

    /// `column IN (…)` over `statuses`; no statuses adds nothing.
    pub(super) fn status_in<S: Copy + Into<Param>>(self, column: &str, statuses: &[S]) -> Self {
        self.any_of(column, statuses.iter().copied())
    }

    /// `column IN (…)` over `values`; no values adds nothing.
    pub(super) fn any_of<V: Into<Param>>(mut self, column: &str, values: impl IntoIterator<Item = V>) -> Self {
        let mut placeholders = Vec::new();
        for value in values {
            self.params.push(value.into());
            placeholders.push(format!("${}", self.params.len()));
        }
        if !placeholders.is_empty() {
            self.conditions.push(format!("{column} IN ({})", placeholders.join(", ")));
        }
        self
    }

    /// ` WHERE …`, or nothing when there is no condition.
    pub(super) fn clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        }
    }

    /// The placeholder of the `n`th value bound after the filter's (from 1).
    pub(super) fn then(&self, n: usize) -> String {
        format!("${}", self.params.len() + n)
    }

    /// Binds the filter's values to a query of [`Filter::clause`].
    pub(super) fn bind<'q>(&self, mut query: Query<'q, Any, AnyArguments<'q>>) -> Query<'q, Any, AnyArguments<'q>> {
        for param in &self.params {
            query = match param {
                Param::Int(value) => query.bind(*value),
                Param::Text(value) => query.bind(value.clone()),
            };
        }
        query
    }

    /// Binds the filter's values to a typed query of [`Filter::clause`].
    pub(super) fn bind_as<'q, O>(
        &self,
        mut query: QueryAs<'q, Any, O, AnyArguments<'q>>,
    ) -> QueryAs<'q, Any, O, AnyArguments<'q>> {
        for param in &self.params {
            query = match param {
                Param::Int(value) => query.bind(*value),
                Param::Text(value) => query.bind(value.clone()),
            };
        }
        query
    }

    /// Binds the filter's values to a scalar query of [`Filter::clause`].
    pub(super) fn bind_scalar<'q, O>(
        &self,
        mut query: QueryScalar<'q, Any, O, AnyArguments<'q>>,
    ) -> QueryScalar<'q, Any, O, AnyArguments<'q>> {
        for param in &self.params {
            query = match param {
                Param::Int(value) => query.bind(*value),
                Param::Text(value) => query.bind(value.clone()),
            };
        }
        query
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_the_order_values_are_bound() {
        let filter = Filter::default()
            .and("buyer_id = {}", "buyer-1")
            .and_some("chain_id = {}", None::<i64>)
            .status_in("status", &PaymentStatus::SETTLED)
            .and_sql("tx_hash IS NULL")
            .and_some("UPPER(token_symbol) = UPPER({})", Some("usdc"));
        assert_eq!(
            filter.clause(),
            " WHERE buyer_id = $1 AND status IN ($2, $3, $4) AND tx_hash IS NULL AND UPPER(token_symbol) = UPPER($5)"
        );
        assert_eq!(filter.then(1), "$6");
        assert_eq!(filter.params[1], Param::Text("completed".to_owned()));
        let keyset = Filter::default().and_each(
            "(created_at > {} OR (created_at = {} AND id > {}))",
            [Param::Int(5), Param::Int(5), Param::from("pay_x")],
        );
        assert_eq!(keyset.clause(), " WHERE (created_at > $1 OR (created_at = $2 AND id > $3))");
        assert_eq!(keyset.then(1), "$4");
        assert_eq!(Filter::default().clause(), "");
        assert_eq!(Filter::default().status_in::<PaymentStatus>("status", &[]).clause(), "");
        let ids = Filter::default().and("buyer_id = {}", "buyer-1").any_of("id", ["pay_a", "pay_b"]);
        assert_eq!(ids.clause(), " WHERE buyer_id = $1 AND id IN ($2, $3)");
    }
}
