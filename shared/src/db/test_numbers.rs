//! The numbers merchants asked test texts for ([`crate::test_text`]): one item per store and phone.

use super::keys::{TEST_NUMBER_SK, phone_pk};
use super::{Db, DbError, is_update_condition_failed, s, to_item};
use crate::test_text::TestNumber;
use crate::{Phone, StoreHash};
use chrono::{DateTime, Utc};

impl Db {
    pub async fn test_number(&self, store: &StoreHash, phone: &Phone) -> Result<Option<TestNumber>, DbError> {
        self.get_as(&phone_pk(store, phone), TEST_NUMBER_SK).await
    }

    /// Records that a confirmation request went to the number (again).
    pub async fn put_test_number(&self, number: &TestNumber) -> Result<(), DbError> {
        let item = to_item(
            number,
            &[
                ("pk", phone_pk(&number.store_hash, &number.phone)),
                ("sk", TEST_NUMBER_SK.to_owned()),
            ],
        )?;
        self.put(item).await
    }

    /// Marks a requested number confirmed. `false` when it was never requested or is confirmed already, so
    /// a redelivered YES confirms (and sends) once.
    pub async fn confirm_test_number(
        &self,
        store: &StoreHash,
        phone: &Phone,
        at: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        self.counter.call();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&phone_pk(store, phone)))
            .key("sk", s(TEST_NUMBER_SK))
            .update_expression("SET confirmed_at = :at")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(confirmed_at) OR confirmed_at = :null)",
            )
            .expression_attribute_values(":at", s(&at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
            .expression_attribute_values(":null", aws_sdk_dynamodb::types::AttributeValue::Null(true))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if is_update_condition_failed(&error) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Undoes a confirmation whose reminder could not be sent (the provider answered with an error), so the
    /// provider's retry of the YES sends it.
    pub async fn unconfirm_test_number(&self, store: &StoreHash, phone: &Phone) -> Result<(), DbError> {
        self.counter.call();
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&phone_pk(store, phone)))
            .key("sk", s(TEST_NUMBER_SK))
            .update_expression("REMOVE confirmed_at")
            .condition_expression("attribute_exists(pk)")
            .send()
            .await
            .map(|_| ())
            .or_else(|error| {
                if is_update_condition_failed(&error) {
                    Ok(())
                } else {
                    Err(error.into())
                }
            })
    }
}
