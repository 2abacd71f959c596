package verifier

// Settle waits for the fetch in flight, if any, so that tests can count
// requests after a PublicKey call that started a background refresh.
func (r *RemoteKeySet) Settle() {
	if f := r.flight.Load(); f != nil {
		<-f.done
	}
}
