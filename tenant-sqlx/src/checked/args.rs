//! The arguments of a checked query: a tuple, bound when the database is known (at execution).

use sqlx::error::BoxDynError;
use sqlx::{Arguments as _, Database, Encode, Type};

/// The arguments a checked query binds, `$1..$N` in order: a tuple of up to 16 values of types
/// the database can encode, as `sqlx::query(..).bind(..)` takes them. The macros build it; it
/// is public so a query can be stored or passed on (`CheckedQuery<'_, (i64, &str), Writes>`).
///
/// ```
/// use tenant::sqlx::QueryArgs;
///
/// fn binds_on_both<A: QueryArgs<sqlx::Sqlite> + QueryArgs<sqlx::Postgres>>(_: A) {}
/// binds_on_both((1_i64, "A-1", Some(2.5_f64)));
/// assert_eq!(<(i64, &str) as QueryArgs<sqlx::Sqlite>>::LEN, 2);
/// ```
#[diagnostic::on_unimplemented(
    message = "the arguments `{Self}` cannot be bound on {DB}",
    label = "an argument here has a type {DB} cannot encode",
    note = "each argument of a checked query needs sqlx's `Encode` and `Type` for the database it runs on"
)]
pub trait QueryArgs<DB: Database>: Send {
    /// How many arguments: the `N` of `$1..$N` (the tenant is `$N+1`).
    const LEN: usize;

    /// Adds the arguments to `args`, in order.
    #[doc(hidden)]
    fn add_to(self, args: &mut DB::Arguments) -> Result<(), BoxDynError>;
}

macro_rules! tuples {
    ($( ($($name:ident)*) )*) => {$(
        impl<DB: Database, $($name,)*> QueryArgs<DB> for ($($name,)*)
        where
            $($name: for<'t> Encode<'t, DB> + Type<DB> + Send,)*
        {
            const LEN: usize = 0 $(+ { let _ = stringify!($name); 1 })*;

            #[allow(non_snake_case, unused_variables)]
            fn add_to(self, args: &mut DB::Arguments) -> Result<(), BoxDynError> {
                let ($($name,)*) = self;
                $(args.add($name)?;)*
                Ok(())
            }
        }
    )*};
}

tuples! {
    ()
    (A1)
    (A1 A2)
    (A1 A2 A3)
    (A1 A2 A3 A4)
    (A1 A2 A3 A4 A5)
    (A1 A2 A3 A4 A5 A6)
    (A1 A2 A3 A4 A5 A6 A7)
    (A1 A2 A3 A4 A5 A6 A7 A8)
    (A1 A2 A3 A4 A5 A6 A7 A8 A9)
    (A1 A2 A3 A4 A5 A6 A7 A8 A9 A10)
    (A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11)
    (A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11 A12)
    (A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11 A12 A13)
    (A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11 A12 A13 A14)
    (A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11 A12 A13 A14 A15)
    (A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11 A12 A13 A14 A15 A16)
}
