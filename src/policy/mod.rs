//! Policy files kept in the deploy repo, their evaluation (pure, no I/O) and
//! the explanations every decision carries.
