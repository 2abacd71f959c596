// Package identity owns users: signup, address verification state, password
// hashing and policy, and the user store.
//
// [Service] is the use cases (SignUp, CompleteSignUp, Authenticate, the
// development seed); it delivers nothing itself but tells its caller what
// to send. [Hasher] makes argon2id PHC strings, verifies those and imported
// bcrypt hashes, and bounds how many run at once. [Policy] checks length
// and, optionally, the 10,000 most common passwords. [Store] has a memory and
// a PostgreSQL implementation; identitytest.Run is the conformance suite
// both pass.
//
// It must not import token, session, challenge or keystore: token composes
// identity with the others.
package identity
