package policy

import "time"

// Seams for the black-box tests of Budget: deposits and withdrawals at an
// explicit time.

func (b *Budget) DepositAt(now time.Time)       { b.deposit(now) }
func (b *Budget) WithdrawAt(now time.Time) bool { return b.withdraw(now) }
